//! gRPC service config (gRFC A2, with A21's validation and A6's retry and hedging policies):
//! the JSON a channel is given by its user (or, later, by its resolver) that sets per-method
//! timeouts, wait-for-ready, message size limits and retry or hedging policies, retry
//! throttling, and the load-balancing policy.
//!
//! Parsing follows A21: unknown fields are ignored, and one invalid known field rejects the
//! whole config, with an error that names the field (`methodConfig[0].retryPolicy.maxAttempts:
//! ...`). A method's config is the most specific match: `{service, method}`, then `{service}`,
//! then the default `{}`.
//!
//! ```
//! let config = tern::client::ServiceConfig::from_json(r#"{
//!   "loadBalancingConfig": [{"round_robin": {}}],
//!   "methodConfig": [{
//!     "name": [{"service": "hello.Hello"}],
//!     "timeout": "1.5s",
//!     "retryPolicy": {
//!       "maxAttempts": 3, "initialBackoff": "0.1s", "maxBackoff": "1s",
//!       "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]
//!     }
//!   }]
//! }"#).unwrap();
//! let method = config.method_config("hello.Hello", "SayHello").unwrap();
//! assert_eq!(method.timeout, Some(std::time::Duration::from_millis(1500)));
//! ```

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use serde_json::{Map, Value};

use super::LoadBalancing;
use crate::status::Code;

/// A parsed, valid service config.
#[derive(Clone, Debug, Default)]
pub struct ServiceConfig {
    /// The load-balancing policy it chose (the first supported one of `loadBalancingConfig`,
    /// or the deprecated `loadBalancingPolicy`), if it named one.
    pub load_balancing: Option<LoadBalancing>,
    /// `retryThrottling`, if given.
    pub retry_throttling: Option<RetryThrottling>,
    methods: Vec<MethodConfig>,
    /// Indexes into `methods`, by how specific a match is.
    by_method: HashMap<(String, String), usize>,
    by_service: HashMap<String, usize>,
    default: Option<usize>,
}

/// What a service config says about the calls of some methods.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MethodConfig {
    /// Wait for the channel to be ready instead of failing fast (a call's own setting wins).
    pub wait_for_ready: Option<bool>,
    /// The most a call may take; a call's own shorter timeout wins.
    pub timeout: Option<Duration>,
    /// The largest request message, under the client's own limit.
    pub max_request_message_bytes: Option<usize>,
    /// The largest response message, under the client's own limit.
    pub max_response_message_bytes: Option<usize>,
    /// Retries or hedging.
    pub policy: Option<CallPolicy>,
}

/// How failed calls are tried again: by retrying after a failure, or by hedging (sending more
/// attempts before the first has answered). One or the other, never both.
#[derive(Clone, Debug, PartialEq)]
pub enum CallPolicy {
    /// `retryPolicy`.
    Retry(RetryPolicy),
    /// `hedgingPolicy`.
    Hedging(HedgingPolicy),
}

/// gRFC A6's `retryPolicy`.
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included: 2 to 5 (larger values are cut to 5).
    pub max_attempts: u32,
    /// The backoff before the first retry.
    pub initial_backoff: Duration,
    /// The longest backoff.
    pub max_backoff: Duration,
    /// How much longer each backoff is than the one before.
    pub backoff_multiplier: f64,
    /// The codes worth retrying.
    pub retryable_status_codes: Vec<Code>,
}

/// gRFC A6's `hedgingPolicy`.
#[derive(Clone, Debug, PartialEq)]
pub struct HedgingPolicy {
    /// Attempts in all, the first included: 2 to 5 (larger values are cut to 5).
    pub max_attempts: u32,
    /// How long to wait before sending each further attempt (zero: all at once).
    pub hedging_delay: Duration,
    /// Codes after which the next attempt is sent at once instead of ending the call.
    pub non_fatal_status_codes: Vec<Code>,
}

/// gRFC A6's `retryThrottling`: retries and hedges stop while failures outweigh successes.
#[derive(Clone, Debug, PartialEq)]
pub struct RetryThrottling {
    /// The bucket's size: above 0, at most 1000.
    pub max_tokens: f64,
    /// What each success puts back (a failure takes 1), to three decimals.
    pub token_ratio: f64,
}

/// Why a service config was rejected: the field, and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceConfigError {
    field: String,
    problem: String,
}

impl ServiceConfigError {
    fn new(field: &str, problem: impl Into<String>) -> ServiceConfigError {
        ServiceConfigError {
            field: field.to_owned(),
            problem: problem.into(),
        }
    }

    /// The field at fault, as a path (`methodConfig[1].timeout`); empty for the whole config.
    pub fn field(&self) -> &str {
        &self.field
    }
}

impl fmt::Display for ServiceConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "invalid service config: {}", self.problem)
        } else {
            write!(
                f,
                "invalid service config: {}: {}",
                self.field, self.problem
            )
        }
    }
}

impl std::error::Error for ServiceConfigError {}

type Parsed<T> = Result<T, ServiceConfigError>;

impl ServiceConfig {
    /// Parses and validates a service config.
    pub fn from_json(json: &str) -> Result<ServiceConfig, ServiceConfigError> {
        let value: Value = serde_json::from_str(json)
            .map_err(|e| ServiceConfigError::new("", format!("not JSON: {e}")))?;
        let top = object(&value, "")?;
        let mut config = ServiceConfig {
            load_balancing: load_balancing(top)?,
            ..ServiceConfig::default()
        };
        if let Some(throttling) = top.get("retryThrottling") {
            config.retry_throttling = Some(retry_throttling(throttling)?);
        }
        if let Some(methods) = top.get("methodConfig") {
            for (i, entry) in array(methods, "methodConfig")?.iter().enumerate() {
                config.add_method_config(entry, &format!("methodConfig[{i}]"))?;
            }
        }
        Ok(config)
    }

    /// The config for calls to `service`'s `method`: the most specific entry that names it.
    pub fn method_config(&self, service: &str, method: &str) -> Option<&MethodConfig> {
        let index = self
            .by_method
            .get(&(service.to_owned(), method.to_owned()))
            .or_else(|| self.by_service.get(service))
            .or(self.default.as_ref())?;
        self.methods.get(*index)
    }

    /// The config for a call to `/service/method`.
    pub(crate) fn for_path(&self, path: &str) -> Option<&MethodConfig> {
        if self.methods.is_empty() {
            return None;
        }
        let (service, method) = path.strip_prefix('/')?.split_once('/')?;
        self.method_config(service, method)
    }

    fn add_method_config(&mut self, entry: &Value, at: &str) -> Parsed<()> {
        let entry = object(entry, at)?;
        let parsed = method_config(entry, at)?;
        let index = self.methods.len();
        let names = entry
            .get("name")
            .map(|names| array(names, &format!("{at}.name")))
            .transpose()?
            .map(Vec::as_slice)
            .unwrap_or_default();
        if names.is_empty() {
            return Err(ServiceConfigError::new(
                &format!("{at}.name"),
                "a method config must name at least one method, or {} for the default",
            ));
        }
        for (j, name) in names.iter().enumerate() {
            let field = format!("{at}.name[{j}]");
            let name = object(name, &field)?;
            let service = optional_string(name, "service", &field)?.unwrap_or_default();
            let method = optional_string(name, "method", &field)?.unwrap_or_default();
            let duplicate = match (service.is_empty(), method.is_empty()) {
                (true, false) => {
                    return Err(ServiceConfigError::new(
                        &field,
                        "a method name needs its service",
                    ))
                }
                (true, true) => self.default.replace(index).is_some(),
                (false, true) => self.by_service.insert(service, index).is_some(),
                (false, false) => self.by_method.insert((service, method), index).is_some(),
            };
            if duplicate {
                return Err(ServiceConfigError::new(
                    &field,
                    "this name is in more than one method config",
                ));
            }
        }
        self.methods.push(parsed);
        Ok(())
    }
}

fn object<'a>(value: &'a Value, at: &str) -> Parsed<&'a Map<String, Value>> {
    value
        .as_object()
        .ok_or_else(|| ServiceConfigError::new(at, "must be a JSON object"))
}

fn array<'a>(value: &'a Value, at: &str) -> Parsed<&'a Vec<Value>> {
    value
        .as_array()
        .ok_or_else(|| ServiceConfigError::new(at, "must be a JSON array"))
}

fn optional_string(map: &Map<String, Value>, key: &str, at: &str) -> Parsed<Option<String>> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ServiceConfigError::new(
            &format!("{at}.{key}"),
            "must be a string",
        )),
    }
}

/// A proto3 JSON number: a JSON number or a string holding one (how 64-bit integers are sent).
fn number(value: &Value, at: &str) -> Parsed<f64> {
    let parsed = match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    parsed
        .filter(|n| n.is_finite())
        .ok_or_else(|| ServiceConfigError::new(at, "must be a number"))
}

fn whole_number(value: &Value, at: &str) -> Parsed<u64> {
    let n = number(value, at)?;
    if n < 0.0 || n.fract() != 0.0 || n > u64::MAX as f64 {
        return Err(ServiceConfigError::new(
            at,
            "must be a whole number, 0 or more",
        ));
    }
    Ok(n as u64)
}

/// A proto3 JSON `google.protobuf.Duration`: seconds with up to nine decimals and an `s`.
fn duration(value: &Value, at: &str) -> Parsed<Duration> {
    let bad = || ServiceConfigError::new(at, "must be a duration such as \"1.5s\"");
    let text = value.as_str().ok_or_else(bad)?;
    let seconds = text.strip_suffix('s').ok_or_else(bad)?;
    let (whole, fraction) = seconds.split_once('.').unwrap_or((seconds, ""));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || (!fraction.is_empty() && !digits(fraction)) || fraction.len() > 9 {
        return Err(bad());
    }
    let secs: u64 = whole.parse().map_err(|_| bad())?;
    let nanos: u32 = if fraction.is_empty() {
        0
    } else {
        format!("{fraction:0<9}").parse().map_err(|_| bad())?
    };
    Ok(Duration::new(secs, nanos))
}

fn positive_duration(value: &Value, at: &str) -> Parsed<Duration> {
    let d = duration(value, at)?;
    if d.is_zero() {
        return Err(ServiceConfigError::new(at, "must be more than zero"));
    }
    Ok(d)
}

fn status_codes(value: &Value, at: &str) -> Parsed<Vec<Code>> {
    array(value, at)?
        .iter()
        .enumerate()
        .map(|(i, code)| {
            let field = format!("{at}[{i}]");
            match code {
                Value::Number(n) => n
                    .as_u64()
                    .filter(|n| *n <= 16)
                    .map(|n| Code::from_i32(n as i32))
                    .ok_or_else(|| ServiceConfigError::new(&field, "not a status code (0 to 16)")),
                Value::String(name) => Code::ALL
                    .iter()
                    .copied()
                    .find(|c| c.name().eq_ignore_ascii_case(name))
                    .ok_or_else(|| {
                        ServiceConfigError::new(&field, format!("unknown status code {name:?}"))
                    }),
                _ => Err(ServiceConfigError::new(
                    &field,
                    "a status code is a number or a name",
                )),
            }
        })
        .collect()
}

fn max_attempts(map: &Map<String, Value>, at: &str) -> Parsed<u32> {
    let field = format!("{at}.maxAttempts");
    let value = map
        .get("maxAttempts")
        .ok_or_else(|| ServiceConfigError::new(&field, "required"))?;
    let n = whole_number(value, &field)?;
    if n < 2 {
        return Err(ServiceConfigError::new(
            &field,
            "must be 2 or more (it counts the first attempt)",
        ));
    }
    // A6: larger values are treated as 5, not rejected.
    Ok(n.min(5) as u32)
}

fn method_config(entry: &Map<String, Value>, at: &str) -> Parsed<MethodConfig> {
    let mut config = MethodConfig::default();
    if let Some(value) = entry.get("waitForReady") {
        config.wait_for_ready = Some(value.as_bool().ok_or_else(|| {
            ServiceConfigError::new(&format!("{at}.waitForReady"), "must be true or false")
        })?);
    }
    if let Some(value) = entry.get("timeout") {
        config.timeout = Some(duration(value, &format!("{at}.timeout"))?);
    }
    for (key, slot) in [
        (
            "maxRequestMessageBytes",
            &mut config.max_request_message_bytes,
        ),
        (
            "maxResponseMessageBytes",
            &mut config.max_response_message_bytes,
        ),
    ] {
        if let Some(value) = entry.get(key) {
            let n = whole_number(value, &format!("{at}.{key}"))?;
            *slot = Some(usize::try_from(n).unwrap_or(usize::MAX));
        }
    }
    match (entry.get("retryPolicy"), entry.get("hedgingPolicy")) {
        (Some(_), Some(_)) => {
            return Err(ServiceConfigError::new(
                at,
                "retryPolicy and hedgingPolicy cannot both be set",
            ))
        }
        (Some(retry), None) => {
            config.policy = Some(CallPolicy::Retry(retry_policy(
                retry,
                &format!("{at}.retryPolicy"),
            )?))
        }
        (None, Some(hedging)) => {
            config.policy = Some(CallPolicy::Hedging(hedging_policy(
                hedging,
                &format!("{at}.hedgingPolicy"),
            )?))
        }
        (None, None) => {}
    }
    Ok(config)
}

fn retry_policy(value: &Value, at: &str) -> Parsed<RetryPolicy> {
    let map = object(value, at)?;
    let required = |key: &str| {
        map.get(key)
            .ok_or_else(|| ServiceConfigError::new(&format!("{at}.{key}"), "required"))
    };
    let multiplier_at = format!("{at}.backoffMultiplier");
    let backoff_multiplier = number(required("backoffMultiplier")?, &multiplier_at)?;
    if backoff_multiplier <= 0.0 {
        return Err(ServiceConfigError::new(
            &multiplier_at,
            "must be more than zero",
        ));
    }
    let codes_at = format!("{at}.retryableStatusCodes");
    let retryable_status_codes = status_codes(required("retryableStatusCodes")?, &codes_at)?;
    if retryable_status_codes.is_empty() {
        return Err(ServiceConfigError::new(
            &codes_at,
            "must name at least one code",
        ));
    }
    Ok(RetryPolicy {
        max_attempts: max_attempts(map, at)?,
        initial_backoff: positive_duration(
            required("initialBackoff")?,
            &format!("{at}.initialBackoff"),
        )?,
        max_backoff: positive_duration(required("maxBackoff")?, &format!("{at}.maxBackoff"))?,
        backoff_multiplier,
        retryable_status_codes,
    })
}

fn hedging_policy(value: &Value, at: &str) -> Parsed<HedgingPolicy> {
    let map = object(value, at)?;
    Ok(HedgingPolicy {
        max_attempts: max_attempts(map, at)?,
        hedging_delay: map
            .get("hedgingDelay")
            .map(|d| duration(d, &format!("{at}.hedgingDelay")))
            .transpose()?
            .unwrap_or_default(),
        non_fatal_status_codes: map
            .get("nonFatalStatusCodes")
            .map(|c| status_codes(c, &format!("{at}.nonFatalStatusCodes")))
            .transpose()?
            .unwrap_or_default(),
    })
}

fn retry_throttling(value: &Value) -> Parsed<RetryThrottling> {
    let at = "retryThrottling";
    let map = object(value, at)?;
    let field = |key: &str| -> Parsed<f64> {
        let at = format!("{at}.{key}");
        number(
            map.get(key)
                .ok_or_else(|| ServiceConfigError::new(&at, "required"))?,
            &at,
        )
    };
    let max_tokens = field("maxTokens")?;
    if !(max_tokens > 0.0 && max_tokens <= 1000.0) {
        return Err(ServiceConfigError::new(
            "retryThrottling.maxTokens",
            "must be above 0 and at most 1000",
        ));
    }
    let token_ratio = field("tokenRatio")?;
    if token_ratio <= 0.0 {
        return Err(ServiceConfigError::new(
            "retryThrottling.tokenRatio",
            "must be more than zero",
        ));
    }
    Ok(RetryThrottling {
        max_tokens,
        // A6: only three decimal places count.
        token_ratio: (token_ratio * 1000.0).trunc() / 1000.0,
    })
}

/// The policy `name` if Tern has it.
fn policy(name: &str) -> Option<LoadBalancing> {
    match name {
        "pick_first" => Some(LoadBalancing::PickFirst),
        "round_robin" => Some(LoadBalancing::RoundRobin),
        _ => None,
    }
}

fn load_balancing(top: &Map<String, Value>) -> Parsed<Option<LoadBalancing>> {
    if let Some(list) = top.get("loadBalancingConfig") {
        let at = "loadBalancingConfig";
        let list = array(list, at)?;
        for (i, choice) in list.iter().enumerate() {
            let field = format!("{at}[{i}]");
            let choice = object(choice, &field)?;
            if choice.len() != 1 {
                return Err(ServiceConfigError::new(
                    &field,
                    "each entry names exactly one policy",
                ));
            }
            let Some((name, config)) = choice.iter().next() else {
                continue;
            };
            if let Some(found) = policy(name) {
                object(config, &format!("{field}.{name}"))?;
                return Ok(Some(found));
            }
        }
        if !list.is_empty() {
            return Err(ServiceConfigError::new(
                at,
                "no policy this client supports (pick_first, round_robin)",
            ));
        }
    }
    match top.get("loadBalancingPolicy") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(name)) => {
            policy(&name.to_ascii_lowercase()).map(Some).ok_or_else(|| {
                ServiceConfigError::new(
                    "loadBalancingPolicy",
                    format!("unsupported policy {name:?}"),
                )
            })
        }
        Some(_) => Err(ServiceConfigError::new(
            "loadBalancingPolicy",
            "must be a string",
        )),
    }
}

#[cfg(test)]
mod tests;
