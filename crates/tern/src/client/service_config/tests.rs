use super::*;

fn error(json: &str) -> ServiceConfigError {
    ServiceConfig::from_json(json).expect_err("an invalid config")
}

#[test]
fn the_most_specific_name_wins() {
    let config = ServiceConfig::from_json(
        r#"{"methodConfig": [
            {"name": [{}], "timeout": "30s"},
            {"name": [{"service": "a.A"}], "timeout": "2s", "waitForReady": true},
            {"name": [{"service": "a.A", "method": "Slow"}, {"service": "b.B", "method": "X"}],
             "timeout": "60.000000001s", "maxRequestMessageBytes": "1024",
             "maxResponseMessageBytes": 2048}
        ], "futureField": {"ignored": true}}"#,
    )
    .unwrap();
    let timeout = |s: &str, m: &str| config.method_config(s, m).and_then(|c| c.timeout);
    assert_eq!(timeout("a.A", "Fast"), Some(Duration::from_secs(2)));
    assert_eq!(timeout("a.A", "Slow"), Some(Duration::new(60, 1)));
    assert_eq!(timeout("b.B", "X"), Some(Duration::new(60, 1)));
    assert_eq!(timeout("b.B", "Y"), Some(Duration::from_secs(30)));
    assert_eq!(timeout("c.C", "Z"), Some(Duration::from_secs(30)));
    let slow = config.method_config("a.A", "Slow").unwrap();
    assert_eq!(slow.max_request_message_bytes, Some(1024));
    assert_eq!(slow.max_response_message_bytes, Some(2048));
    assert_eq!(slow.wait_for_ready, None);
    assert_eq!(
        config.method_config("a.A", "Fast").unwrap().wait_for_ready,
        Some(true)
    );
    assert_eq!(config.for_path("/a.A/Slow"), Some(slow));
    assert_eq!(config.for_path("nonsense"), None);
}

#[test]
fn no_default_means_no_config_for_other_services() {
    let config =
        ServiceConfig::from_json(r#"{"methodConfig": [{"name": [{"service": "a.A"}]}]}"#).unwrap();
    assert!(config.method_config("a.A", "M").is_some());
    assert!(config.method_config("b.B", "M").is_none());
    assert!(ServiceConfig::from_json("{}")
        .unwrap()
        .for_path("/a.A/M")
        .is_none());
}

#[test]
fn retry_and_hedging_policies() {
    let config = ServiceConfig::from_json(
        r#"{"methodConfig": [
            {"name": [{"service": "r.R"}], "retryPolicy": {
                "maxAttempts": 9, "initialBackoff": "0.1s", "maxBackoff": "1s",
                "backoffMultiplier": 1.5, "retryableStatusCodes": ["UNAVAILABLE", 4, "aborted"]}},
            {"name": [{"service": "h.H"}], "hedgingPolicy": {
                "maxAttempts": 3, "hedgingDelay": "0.5s", "nonFatalStatusCodes": [14]}}
        ], "retryThrottling": {"maxTokens": 10, "tokenRatio": 0.12345}}"#,
    )
    .unwrap();
    let Some(CallPolicy::Retry(retry)) = &config.method_config("r.R", "M").unwrap().policy else {
        panic!("a retry policy");
    };
    assert_eq!(retry.max_attempts, 5, "capped at 5");
    assert_eq!(retry.initial_backoff, Duration::from_millis(100));
    assert_eq!(retry.max_backoff, Duration::from_secs(1));
    assert_eq!(retry.backoff_multiplier, 1.5);
    assert_eq!(
        retry.retryable_status_codes,
        [Code::Unavailable, Code::DeadlineExceeded, Code::Aborted]
    );
    let Some(CallPolicy::Hedging(hedging)) = &config.method_config("h.H", "M").unwrap().policy
    else {
        panic!("a hedging policy");
    };
    assert_eq!(hedging.max_attempts, 3);
    assert_eq!(hedging.hedging_delay, Duration::from_millis(500));
    assert_eq!(hedging.non_fatal_status_codes, [Code::Unavailable]);
    assert_eq!(
        config.retry_throttling,
        Some(RetryThrottling {
            max_tokens: 10.0,
            token_ratio: 0.123
        })
    );
}

#[test]
fn load_balancing_is_the_first_supported_policy() {
    let lb = |json: &str| ServiceConfig::from_json(json).unwrap().load_balancing;
    assert_eq!(
        lb(r#"{"loadBalancingConfig": [{"weighted_round_robin": {}}, {"round_robin": {}}]}"#),
        Some(LoadBalancing::RoundRobin)
    );
    assert_eq!(
        lb(r#"{"loadBalancingConfig": [{"pick_first": {"shuffleAddressList": true}}]}"#),
        Some(LoadBalancing::PickFirst)
    );
    assert_eq!(
        lb(r#"{"loadBalancingPolicy": "ROUND_ROBIN"}"#),
        Some(LoadBalancing::RoundRobin)
    );
    assert_eq!(lb("{}"), None);
}

#[test]
fn an_invalid_field_rejects_the_whole_config_and_is_named() {
    let cases = [
        ("[]", "", "must be a JSON object"),
        ("{", "", "not JSON"),
        (
            r#"{"methodConfig": {}}"#,
            "methodConfig",
            "must be a JSON array",
        ),
        (
            r#"{"methodConfig": [{"timeout": "1s"}]}"#,
            "methodConfig[0].name",
            "at least one",
        ),
        (
            r#"{"methodConfig": [{"name": [{"method": "M"}]}]}"#,
            "methodConfig[0].name[0]",
            "needs its service",
        ),
        (
            r#"{"methodConfig": [{"name": [{"service": "a.A"}]}, {"name": [{"service": "a.A"}]}]}"#,
            "methodConfig[1].name[0]",
            "more than one",
        ),
        (
            r#"{"methodConfig": [{"name": [{}]}, {"name": [{"service": ""}]}]}"#,
            "methodConfig[1].name[0]",
            "more than one",
        ),
        (
            r#"{"methodConfig": [{"name": [{}], "timeout": "1"}]}"#,
            "methodConfig[0].timeout",
            "duration",
        ),
        (
            r#"{"methodConfig": [{"name": [{}], "timeout": "-1s"}]}"#,
            "methodConfig[0].timeout",
            "duration",
        ),
        (
            r#"{"methodConfig": [{"name": [{}], "timeout": "1.0000000001s"}]}"#,
            "methodConfig[0].timeout",
            "duration",
        ),
        (
            r#"{"methodConfig": [{"name": [{}], "waitForReady": "yes"}]}"#,
            "methodConfig[0].waitForReady",
            "true or false",
        ),
        (
            r#"{"methodConfig": [{"name": [{}], "maxRequestMessageBytes": -1}]}"#,
            "methodConfig[0].maxRequestMessageBytes",
            "whole number",
        ),
        (
            r#"{"methodConfig": [{"name": [{}], "retryPolicy": {}, "hedgingPolicy": {}}]}"#,
            "methodConfig[0]",
            "both",
        ),
        (
            r#"{"methodConfig": [{"name": [{}], "retryPolicy": {"maxAttempts": 1,
                "initialBackoff": "1s", "maxBackoff": "1s", "backoffMultiplier": 2,
                "retryableStatusCodes": [14]}}]}"#,
            "methodConfig[0].retryPolicy.maxAttempts",
            "2 or more",
        ),
        (
            r#"{"methodConfig": [{"name": [{}], "retryPolicy": {"maxAttempts": 2,
                "initialBackoff": "0s", "maxBackoff": "1s", "backoffMultiplier": 2,
                "retryableStatusCodes": [14]}}]}"#,
            "methodConfig[0].retryPolicy.initialBackoff",
            "more than zero",
        ),
        (
            r#"{"methodConfig": [{"name": [{}], "retryPolicy": {"maxAttempts": 2,
                "initialBackoff": "1s", "maxBackoff": "1s", "backoffMultiplier": 2,
                "retryableStatusCodes": []}}]}"#,
            "methodConfig[0].retryPolicy.retryableStatusCodes",
            "at least one",
        ),
        (
            r#"{"methodConfig": [{"name": [{}], "retryPolicy": {"maxAttempts": 2,
                "initialBackoff": "1s", "maxBackoff": "1s", "backoffMultiplier": 2,
                "retryableStatusCodes": ["NOPE"]}}]}"#,
            "methodConfig[0].retryPolicy.retryableStatusCodes[0]",
            "unknown status code",
        ),
        (
            r#"{"methodConfig": [{"name": [{}], "retryPolicy": {"maxAttempts": 2,
                "initialBackoff": "1s", "backoffMultiplier": 2, "retryableStatusCodes": [14]}}]}"#,
            "methodConfig[0].retryPolicy.maxBackoff",
            "required",
        ),
        (
            r#"{"retryThrottling": {"maxTokens": 1001, "tokenRatio": 1}}"#,
            "retryThrottling.maxTokens",
            "at most 1000",
        ),
        (
            r#"{"retryThrottling": {"maxTokens": 10, "tokenRatio": 0}}"#,
            "retryThrottling.tokenRatio",
            "more than zero",
        ),
        (
            r#"{"loadBalancingConfig": [{"grpclb": {}}]}"#,
            "loadBalancingConfig",
            "no policy",
        ),
        (
            r#"{"loadBalancingConfig": [{"round_robin": {}, "pick_first": {}}]}"#,
            "loadBalancingConfig[0]",
            "exactly one",
        ),
        (
            r#"{"loadBalancingPolicy": "grpclb"}"#,
            "loadBalancingPolicy",
            "unsupported",
        ),
    ];
    for (json, field, problem) in cases {
        let e = error(json);
        assert_eq!(e.field(), field, "{json}: {e}");
        assert!(e.to_string().contains(problem), "{json}: {e}");
    }
}
