//! A logged-in UI session for tests that call the API as the browser does: the session cookie
//! plus the CSRF token every state-changing cookie request must carry.

/// The cookie (`ferry_session=…`) and the CSRF token of one password login.
pub struct Session {
    /// `ferry_session=…`, for the `Cookie` header.
    pub cookie: String,
    /// The login answer's `csrf_token`, for `X-CSRF-Token`.
    pub csrf_token: String,
}

impl Session {
    /// Logs in at `url` (`http://host:port`) as `email`; panics unless the login succeeds.
    pub async fn login(http: &reqwest::Client, url: &str, email: &str, password: &str) -> Session {
        let response = http
            .post(format!("{url}/api/v1/login"))
            .json(&serde_json::json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "login of {email}");
        let cookie = response.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string();
        let body: serde_json::Value = response.json().await.unwrap();
        let csrf_token = body["csrf_token"].as_str().unwrap().to_string();
        Session { cookie, csrf_token }
    }

    /// `request` with the session's cookie and CSRF token, as the UI sends it.
    pub fn on(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        request
            .header("cookie", &self.cookie)
            .header("x-csrf-token", &self.csrf_token)
    }
}
