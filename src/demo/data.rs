//! The demo shop's orders: 40 deterministic Shopify Admin REST style orders from EU customers,
//! a mix of paid, pending, refunded and partially refunded, two of them broken on purpose, and
//! the edits a merchant makes between two runs.
//!
//! Money is computed in cents; prices include VAT, as in most EU shops (`taxes_included`).

use serde_json::{Value, json};

/// Orders the demo shop holds.
pub const ORDER_COUNT: usize = 40;
/// Id of the first order; the others follow in steps of [`ID_STEP`].
pub const FIRST_ID: u64 = 5_923_180_000_100;
/// Distance between two order ids.
const ID_STEP: u64 = 137;
/// Index of the order without an email: the ERP refuses it (422).
pub const NO_EMAIL: usize = 13;
/// Index of the order whose billing country code is `XX`: the flow's value map refuses it.
pub const UNKNOWN_COUNTRY: usize = 26;

/// A country the shop sells to: code, name, VAT rate in percent, a city, a postcode, a street,
/// and customers' names.
struct Country {
    code: &'static str,
    name: &'static str,
    vat: u32,
    city: &'static str,
    zip: &'static str,
    street: &'static str,
    people: [(&'static str, &'static str); 3],
}

const COUNTRIES: [Country; 8] = [
    Country {
        code: "FR",
        name: "France",
        vat: 20,
        city: "Lyon",
        zip: "69002",
        street: "Rue de la République",
        people: [
            ("Chloé", "Dubois"),
            ("Lucas", "Martin"),
            ("Inès", "Lefèvre"),
        ],
    },
    Country {
        code: "BE",
        name: "Belgium",
        vat: 21,
        city: "Gent",
        zip: "9000",
        street: "Veldstraat",
        people: [
            ("Bram", "Peeters"),
            ("Louise", "Janssens"),
            ("Noah", "Maes"),
        ],
    },
    Country {
        code: "DE",
        name: "Germany",
        vat: 19,
        city: "Köln",
        zip: "50667",
        street: "Hohe Straße",
        people: [("Lena", "Müller"), ("Jonas", "Schmidt"), ("Sophie", "Weiß")],
    },
    Country {
        code: "NL",
        name: "Netherlands",
        vat: 21,
        city: "Utrecht",
        zip: "3511 AB",
        street: "Oudegracht",
        people: [
            ("Pieter", "de Vries"),
            ("Sanne", "Jansen"),
            ("Daan", "Bakker"),
        ],
    },
    Country {
        code: "IT",
        name: "Italy",
        vat: 22,
        city: "Milano",
        zip: "20121",
        street: "Via Dante",
        people: [("Giulia", "Rossi"), ("Luca", "Bianchi"), ("Sofia", "Ricci")],
    },
    Country {
        code: "ES",
        name: "Spain",
        vat: 21,
        city: "Valencia",
        zip: "46002",
        street: "Carrer de Colón",
        people: [
            ("Marta", "García"),
            ("Álvaro", "Fernández"),
            ("Lucía", "López"),
        ],
    },
    Country {
        code: "AT",
        name: "Austria",
        vat: 20,
        city: "Wien",
        zip: "1010",
        street: "Kärntner Straße",
        people: [("Anna", "Gruber"), ("Felix", "Huber"), ("Lea", "Wagner")],
    },
    Country {
        code: "LU",
        name: "Luxembourg",
        vat: 17,
        city: "Luxembourg",
        zip: "L-1611",
        street: "Avenue de la Gare",
        people: [("Emma", "Schmit"), ("Tom", "Weber"), ("Mia", "Hoffmann")],
    },
];

/// Which country each order comes from, in turn: more French, Belgian, German and Dutch
/// customers than the others.
const COUNTRY_CYCLE: [usize; 12] = [0, 1, 2, 3, 0, 4, 1, 5, 3, 6, 2, 7];

/// Financial status of each order, in turn: per 10 orders, 6 paid, 2 pending, 1 refunded and
/// 1 partially refunded.
const STATUS_CYCLE: [&str; 10] = [
    "paid",
    "paid",
    "pending",
    "paid",
    "refunded",
    "paid",
    "paid",
    "pending",
    "partially_refunded",
    "paid",
];

/// The catalogue: SKU, title, price in cents (VAT included).
const PRODUCTS: [(&str, &str, i64); 6] = [
    ("TSHIRT-ORG-M", "Organic cotton T-shirt (M)", 2490),
    ("MUG-CER-01", "Ceramic mug", 1250),
    ("SOCK-MER-42", "Merino socks (42)", 1500),
    ("TOTE-CNV", "Canvas tote bag", 1995),
    ("HOODIE-ORG-L", "Organic hoodie (L)", 5900),
    ("CAP-WOOL", "Wool cap", 2200),
];

/// Shipping methods: title, code, price in cents.
const STANDARD: (&str, &str, i64) = ("Standard", "STANDARD", 495);
const EXPRESS: (&str, &str, i64) = ("Express", "EXPRESS", 995);

/// Formats cents as Shopify does: `"24.90"`.
fn money(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// Parses a Shopify money string into cents; the demo's own data always parses.
fn cents(text: &Value) -> i64 {
    let text = text.as_str().unwrap_or("0");
    let (units, fraction) = text.split_once('.').unwrap_or((text, "0"));
    let fraction = format!("{fraction:0<2}");
    units.parse::<i64>().unwrap_or(0) * 100 + fraction[..2].parse::<i64>().unwrap_or(0)
}

/// The id of order number `i` (0-based).
pub fn order_id(i: usize) -> u64 {
    FIRST_ID + i as u64 * ID_STEP
}

/// The demo orders, as the shop holds them before any edit.
pub fn orders() -> Vec<Value> {
    (0..ORDER_COUNT).map(order).collect()
}

fn order(i: usize) -> Value {
    let country = &COUNTRIES[COUNTRY_CYCLE[i % COUNTRY_CYCLE.len()]];
    let (first, last) = country.people[(i / COUNTRY_CYCLE.len()) % 3];
    let id = order_id(i);
    let email = if i == NO_EMAIL {
        // A point-of-sale order: Shopify sends an empty email.
        String::new()
    } else {
        format!(
            "{}.{}@Example-Mail.eu",
            ascii_lower(first),
            ascii_lower(last).replace(' ', "")
        )
    };
    let country_code = if i == UNKNOWN_COUNTRY {
        "XX"
    } else {
        country.code
    };
    let day = 1 + i % 28;
    let created = format!(
        "2026-10-{day:02}T{:02}:{:02}:00+01:00",
        8 + i % 12,
        (i * 7) % 60
    );
    let address = json!({
        "first_name": first, "last_name": last, "name": format!("{first} {last}"),
        "address1": format!("{} {}", country.street, 3 + (i * 11) % 90),
        "address2": null, "city": country.city, "zip": country.zip, "province": null,
        "country": if i == UNKNOWN_COUNTRY { "" } else { country.name },
        "country_code": country_code, "phone": null, "company": null
    });
    let line_items: Vec<Value> = (0..1 + i % 3)
        .map(|j| {
            let (sku, title, price) = PRODUCTS[(i + 2 * j) % PRODUCTS.len()];
            json!({
                "id": 14_012_000_000_000u64 + id % 1_000_000 * 10 + j as u64,
                "variant_id": 44_100_000_000u64 + ((i + 2 * j) % PRODUCTS.len()) as u64,
                "sku": sku, "title": title, "quantity": 1 + (i + j) % 3,
                "price": money(price), "taxable": true, "requires_shipping": true
            })
        })
        .collect();
    let mut order = json!({
        "id": id,
        "admin_graphql_api_id": format!("gid://shopify/Order/{id}"),
        "name": format!("#{}", 1001 + i),
        "order_number": 1001 + i,
        "email": email,
        "contact_email": if email.is_empty() { Value::Null } else { json!(email) },
        "created_at": created,
        "processed_at": created,
        "updated_at": created,
        "financial_status": STATUS_CYCLE[i % STATUS_CYCLE.len()],
        "fulfillment_status": if i.is_multiple_of(4) { json!("fulfilled") } else { Value::Null },
        "currency": "EUR",
        "presentment_currency": "EUR",
        "taxes_included": true,
        "source_name": if i == NO_EMAIL { "pos" } else { "web" },
        "customer": {
            "id": 7_310_000_000_000u64 + i as u64 * 53,
            "email": email, "first_name": first, "last_name": last,
            "currency": "EUR", "verified_email": !email.is_empty()
        },
        "billing_address": address,
        "shipping_address": address,
        "line_items": line_items,
        "shipping_lines": [shipping_line(id, STANDARD)],
        "vat_rate_percent": country.vat
    });
    recompute_totals(&mut order);
    order
}

fn shipping_line(order_id: u64, (title, code, price): (&str, &str, i64)) -> Value {
    json!({"id": 4_700_000_000_000u64 + order_id % 1_000_000, "title": title, "code": code,
           "price": money(price), "source": "shopify"})
}

/// Lower-case ASCII letters only, as the shop's made-up email addresses are.
fn ascii_lower(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            'é' | 'è' | 'ê' => 'e',
            'É' => 'e',
            'á' | 'à' => 'a',
            'Á' => 'a',
            'í' => 'i',
            'ó' | 'ö' => 'o',
            'ú' | 'ü' => 'u',
            'ß' => 's',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// Sets `total_line_items_price`, `subtotal_price`, `total_tax`, `tax_lines` and `total_price`
/// from the lines and shipping, prices including VAT at the order's rate.
fn recompute_totals(order: &mut Value) {
    let items: i64 = order["line_items"]
        .as_array()
        .map(|lines| {
            lines
                .iter()
                .map(|l| cents(&l["price"]) * l["quantity"].as_i64().unwrap_or(1))
                .sum()
        })
        .unwrap_or(0);
    let shipping: i64 = order["shipping_lines"]
        .as_array()
        .map(|lines| lines.iter().map(|l| cents(&l["price"])).sum())
        .unwrap_or(0);
    // The rate is kept on the order while it is built; Shopify has it in `tax_lines` only.
    let rate = match order
        .as_object_mut()
        .and_then(|o| o.remove("vat_rate_percent"))
    {
        Some(rate) => rate.as_i64().unwrap_or(21),
        None => order["tax_lines"][0]["rate"]
            .as_f64()
            .map(|r| (r * 100.0).round() as i64)
            .unwrap_or(21),
    };
    let total = items + shipping;
    let tax = (total * rate * 2 + (100 + rate)) / (2 * (100 + rate));
    order["total_line_items_price"] = json!(money(items));
    order["subtotal_price"] = json!(money(items));
    order["total_discounts"] = json!("0.00");
    order["total_tax"] = json!(money(tax));
    order["tax_lines"] =
        json!([{"title": "VAT", "rate": rate as f64 / 100.0, "price": money(tax)}]);
    order["total_price"] = json!(money(total));
}

/// Edits a merchant makes between two runs: the `n` first orders that are paid, complete and
/// not edited yet get, in turn, a refund, one more of their first item, and an upgrade to
/// express shipping. Returns what changed, one line per order, and bumps `updated_at`.
pub fn touch(orders: &mut [Value], touched: &mut Vec<u64>, n: usize) -> Vec<String> {
    let mut changes = Vec::new();
    for order in orders.iter_mut() {
        if changes.len() == n {
            break;
        }
        let id = order["id"].as_u64().unwrap_or(0);
        let complete = order["email"] != "" && order["billing_address"]["country_code"] != "XX";
        // Skip the first orders so that the edited ones are not the first a reader looks at.
        if id < order_id(3)
            || order["financial_status"] != "paid"
            || !complete
            || touched.contains(&id)
        {
            continue;
        }
        let name = order["name"].as_str().unwrap_or("?").to_string();
        let change = match touched.len() % 3 {
            0 => {
                order["financial_status"] = json!("refunded");
                format!("{name} was refunded")
            }
            1 => {
                let line = &mut order["line_items"][0];
                let quantity = line["quantity"].as_i64().unwrap_or(1);
                line["quantity"] = json!(quantity + 1);
                format!(
                    "{name}: the customer added one {} ({quantity} → {})",
                    line["sku"].as_str().unwrap_or("item"),
                    quantity + 1
                )
            }
            _ => {
                order["shipping_lines"] = json!([shipping_line(id, EXPRESS)]);
                format!("{name}: shipping upgraded to Express")
            }
        };
        recompute_totals(order);
        order["updated_at"] = json!("2026-11-02T16:45:00+01:00");
        touched.push(id);
        changes.push(change);
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_are_deterministic_and_shaped_like_shopify() {
        let orders = orders();
        assert_eq!(orders, super::orders());
        assert_eq!(orders.len(), ORDER_COUNT);
        let first = &orders[0];
        assert_eq!(first["id"], FIRST_ID);
        assert_eq!(first["name"], "#1001");
        assert_eq!(first["billing_address"]["country_code"], "FR");
        assert_eq!(first["email"], "chloe.dubois@Example-Mail.eu");
        for order in &orders {
            let lines: i64 = order["line_items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| cents(&l["price"]) * l["quantity"].as_i64().unwrap())
                .sum();
            assert_eq!(
                cents(&order["total_price"]),
                lines + 495,
                "{}",
                order["name"]
            );
            assert!(cents(&order["total_tax"]) > 0);
            assert!(order.get("vat_rate_percent").is_none());
        }
        let count = |status: &str| {
            orders
                .iter()
                .filter(|o| o["financial_status"] == status)
                .count()
        };
        assert_eq!(
            (
                count("paid"),
                count("pending"),
                count("refunded"),
                count("partially_refunded")
            ),
            (24, 8, 4, 4)
        );
        assert_eq!(orders[NO_EMAIL]["customer"]["email"], "");
        assert_eq!(orders[NO_EMAIL]["financial_status"], "paid");
        assert_eq!(
            orders[UNKNOWN_COUNTRY]["billing_address"]["country_code"],
            "XX"
        );
        assert_eq!(orders[UNKNOWN_COUNTRY]["financial_status"], "paid");
    }

    #[test]
    fn tax_is_the_vat_included_in_the_total() {
        // 24.90 + 4.95 = 29.85 incl. 20 % VAT: 29.85 × 20 / 120 = 4.975 → 4.98.
        let mut order = json!({
            "line_items": [{"price": "24.90", "quantity": 1}],
            "shipping_lines": [{"price": "4.95"}], "vat_rate_percent": 20
        });
        recompute_totals(&mut order);
        assert_eq!(order["total_price"], "29.85");
        assert_eq!(order["total_tax"], "4.98");
        assert_eq!(order["tax_lines"][0]["rate"], 0.2);
    }

    #[test]
    fn touch_edits_distinct_sendable_orders_once() {
        let mut orders = orders();
        let mut touched = Vec::new();
        let changes = touch(&mut orders, &mut touched, 3);
        assert_eq!(changes.len(), 3, "{changes:?}");
        assert!(changes[0].ends_with("was refunded"), "{changes:?}");
        let more = touch(&mut orders, &mut touched, 3);
        assert_eq!(touched.len(), 6);
        assert!(more.iter().all(|c| !changes.contains(c)));
        let edited: Vec<&Value> = orders
            .iter()
            .filter(|o| o["updated_at"] == "2026-11-02T16:45:00+01:00")
            .collect();
        assert_eq!(edited.len(), 6);
        let original = super::orders();
        for order in edited {
            let before = original.iter().find(|o| o["id"] == order["id"]).unwrap();
            assert_ne!(
                (&order["financial_status"], &order["total_price"]),
                (&before["financial_status"], &before["total_price"])
            );
        }
    }
}
