//! The interop auth cases without Google's servers: on the server, the account and scope of a
//! call's bearer token, as Google's servers fill `username` and `oauth_scope`; on the client,
//! the credentials each case uses, built from a service account key file whose `token_uri` is a
//! local token endpoint (tests/go/tlspeer).
//!
//! Tokens are JWTs: a self-signed one (jwt_token_creds) names its account in `iss`; the local
//! endpoint's access tokens carry `email` and `scope`. The server only reads them: checking the
//! signature is the token endpoint's job here, as it is Google's in production.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use tern::credentials::{
    BearerToken, CallCredentials, CallInfo, Credentials, MetadataFuture, Token,
};
use tern::{Metadata, Request, Status};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The account and scope of the call's bearer token, for `fill_username` and `fill_oauth_scope`.
/// A call that asks for them without a readable token fails UNAUTHENTICATED: the auth cases must
/// show that the token arrived, not pass on empty strings.
pub fn token_identity<T>(request: &Request<T>) -> Result<(String, String), Status> {
    let token = tern::credentials::bearer_token(request)?;
    let claims = jwt_claims(token).ok_or_else(|| {
        Status::unauthenticated("the bearer token is not a JWT this server can read")
    })?;
    let text = |key: &str| claims.get(key).and_then(|v| v.as_str()).map(str::to_owned);
    let user = text("email")
        .or_else(|| text("iss"))
        .ok_or_else(|| Status::unauthenticated("the bearer token names no account"))?;
    Ok((user, text("scope").unwrap_or_default()))
}

fn jwt_claims(token: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        serde_json::Value::Object(map) => Some(map),
        _ => None,
    }
}

/// The parts of a service account key file the cases use.
#[derive(Clone, Debug)]
pub struct ServiceAccount {
    /// The whole file, which the cases check `username` against.
    pub json: String,
    pub client_email: String,
    pub token_uri: String,
    key: std::sync::Arc<ring::rsa::KeyPair>,
}

impl ServiceAccount {
    /// Reads a key file.
    pub fn from_file(path: &std::path::Path) -> Result<ServiceAccount, String> {
        let json = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let value: serde_json::Value =
            serde_json::from_str(&json).map_err(|e| format!("{}: {e}", path.display()))?;
        let field = |name: &str| {
            value[name]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("{} has no {name}", path.display()))
        };
        let pem = field("private_key")?;
        let der = pem
            .lines()
            .filter(|line| !line.starts_with("-----"))
            .collect::<String>();
        let der = base64::engine::general_purpose::STANDARD
            .decode(der)
            .map_err(|e| format!("private_key is not PEM: {e}"))?;
        let key = ring::rsa::KeyPair::from_pkcs8(&der)
            .map_err(|e| format!("private_key is not an RSA PKCS#8 key: {e}"))?;
        Ok(ServiceAccount {
            client_email: field("client_email")?,
            token_uri: field("token_uri")?,
            json,
            key: std::sync::Arc::new(key),
        })
    }

    /// An RS256 JWT of `claims`, signed with the account's key.
    fn sign(&self, claims: serde_json::Value) -> Result<String, String> {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
        let body = URL_SAFE_NO_PAD.encode(claims.to_string());
        let input = format!("{header}.{body}");
        let mut signature = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(
                &ring::signature::RSA_PKCS1_SHA256,
                &ring::rand::SystemRandom::new(),
                input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| "signing failed".to_owned())?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }

    /// Exchanges a signed assertion for an access token at `token_uri`, as OAuth2's JWT bearer
    /// grant (RFC 7523) does.
    pub async fn fetch_token(&self, scope: &str) -> Result<Token, String> {
        let now = unix_now();
        let assertion = self.sign(serde_json::json!({
            "iss": self.client_email,
            "scope": scope,
            "aud": self.token_uri,
            "iat": now,
            "exp": now + 3600,
        }))?;
        let form = format!(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={assertion}"
        );
        let answer = post_form(&self.token_uri, &form).await?;
        let value: serde_json::Value =
            serde_json::from_str(&answer).map_err(|e| format!("token endpoint: {e}: {answer}"))?;
        let token = value["access_token"]
            .as_str()
            .ok_or_else(|| format!("token endpoint gave no access_token: {answer}"))?;
        let lifetime = value["expires_in"].as_u64().unwrap_or(3600);
        Ok(Token::new(token).expires_in(Duration::from_secs(lifetime)))
    }

    /// Channel credentials that fetch and refresh an access token (service_account_creds).
    pub fn access_token_credentials(&self, scope: &str) -> Credentials {
        let (account, scope) = (self.clone(), scope.to_owned());
        Credentials::new(BearerToken::new(move || {
            let (account, scope) = (account.clone(), scope.clone());
            async move { account.fetch_token(&scope).await }
        }))
    }

    /// Self-signed JWT access credentials (jwt_token_creds): a JWT per service, its audience
    /// the service's URL, with no token endpoint involved.
    pub fn jwt_access_credentials(&self) -> Credentials {
        Credentials::new(JwtAccess(self.clone()))
    }
}

struct JwtAccess(ServiceAccount);

impl CallCredentials for JwtAccess {
    fn metadata(&self, call: CallInfo) -> MetadataFuture<'_> {
        Box::pin(async move {
            let now = unix_now();
            let jwt = self.0.sign(serde_json::json!({
                "iss": self.0.client_email,
                "sub": self.0.client_email,
                "aud": call.service_url(),
                "iat": now,
                "exp": now + 3600,
            }))?;
            let mut metadata = Metadata::new();
            metadata.insert("authorization", &format!("Bearer {jwt}"))?;
            Ok(metadata)
        })
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// POSTs a form to an `http://host:port/path` URL and returns the body of a 200 answer: all a
/// local token endpoint needs, without an HTTP client crate for one request per case.
async fn post_form(url: &str, form: &str) -> Result<String, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("token_uri {url:?}: only a local http:// endpoint is supported"))?;
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut stream = tokio::net::TcpStream::connect(host)
        .await
        .map_err(|e| format!("token endpoint {host}: {e}"))?;
    let request = format!(
        "POST /{path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{form}",
        form.len()
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .await
        .map_err(|e| e.to_string())?;
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("token endpoint answered {answer:?}"))?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(format!("token endpoint answered {head:?}: {body}"));
    }
    Ok(body.to_owned())
}
