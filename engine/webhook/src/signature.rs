//! Standard Webhooks signatures (standardwebhooks.com): the receiver
//! checks `webhook-signature` = `v1,` + base64 of HMAC-SHA256 over
//! `{webhook-id}.{webhook-timestamp}.{body}`, with the shared secret.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ring::hmac;

/// The prefix of a secret as Standard Webhooks writes it.
const SECRET_PREFIX: &str = "whsec_";

/// Signs requests with one secret.
#[derive(Debug, Clone)]
pub struct Signer {
    key: hmac::Key,
}

/// A secret that is not `whsec_` followed by base64.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a webhook secret is `whsec_` followed by base64 (as Standard Webhooks writes it)")]
pub struct BadSecret;

impl Signer {
    /// From a secret in the Standard Webhooks form, `whsec_<base64>`.
    pub fn new(secret: &str) -> Result<Self, BadSecret> {
        let encoded = secret.trim().strip_prefix(SECRET_PREFIX).ok_or(BadSecret)?;
        let bytes = STANDARD.decode(encoded).map_err(|_| BadSecret)?;
        if bytes.is_empty() {
            return Err(BadSecret);
        }
        Ok(Signer {
            key: hmac::Key::new(hmac::HMAC_SHA256, &bytes),
        })
    }

    /// The `webhook-signature` header of a request.
    pub fn sign(&self, id: &str, timestamp: u64, body: &[u8]) -> String {
        let mut context = hmac::Context::with_key(&self.key);
        context.update(format!("{id}.{timestamp}.").as_bytes());
        context.update(body);
        format!("v1,{}", STANDARD.encode(context.sign().as_ref()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification (and of its
    /// reference libraries' tests).
    #[test]
    fn signs_as_the_specification_example() {
        let signer = Signer::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            signer.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        assert_eq!(Signer::new("MfKQ9r8GKYqrTwjU").unwrap_err(), BadSecret);
        assert_eq!(Signer::new("whsec_not base64!").unwrap_err(), BadSecret);
    }
}
