//! `ferry tenant add|list|retention` against a real SQLite file: tenants made from the command
//! line, their own payload retention, and the errors that say what to fix.

mod support;

#[test]
fn tenants_are_added_listed_and_given_their_own_retention() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("ferry.db").display());
    let ferry = |args: &[&str]| support::ferry(&db, args);

    let (code, out) = ferry(&["tenant", "add", "acme", "--name", "Acme Shop"]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = ferry(&["tenant", "retention", "acme", "90"]);
    assert_eq!(code, 0, "{out}");
    let (_, out) = ferry(&["tenant", "list"]);
    let acme = out.lines().find(|l| l.starts_with("acme")).expect(&out);
    assert!(
        acme.contains("Acme Shop") && acme.contains("90 days"),
        "{out}"
    );
    let default = out.lines().find(|l| l.starts_with("default")).expect(&out);
    assert!(default.contains("default (--retention-days)"), "{out}");

    let (code, _) = ferry(&["tenant", "retention", "acme", "default"]);
    assert_eq!(code, 0);
    let (_, out) = ferry(&["tenant", "list"]);
    assert!(!out.contains("90 days"), "{out}");

    for (args, says) in [
        (&["tenant", "add", "acme"][..], "exists already"),
        (&["tenant", "add", "Bad Id"][..], "lower-case letters"),
        (
            &["tenant", "retention", "nobody", "3"][..],
            "no tenant `nobody`",
        ),
        (&["tenant", "retention", "acme", "0"][..], "number of days"),
    ] {
        let (code, out) = ferry(args);
        assert_ne!(code, 0, "{args:?} should fail");
        assert!(out.contains(says), "{args:?}: {out}");
    }
}
