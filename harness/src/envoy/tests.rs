use std::time::Duration;

use super::*;
use crate::http_client::HttpClient;
use crate::ports::free_port;

/// Admin on port 0 (found through `--admin-address-path`) and one listener
/// on `{port}` answering every request with a direct response.
fn direct_response_config(port: u16) -> String {
    format!(
        r#"
admin:
  address: {{ socket_address: {{ address: 127.0.0.1, port_value: 0 }} }}
static_resources:
  listeners:
  - name: main
    address: {{ socket_address: {{ address: 127.0.0.1, port_value: {port} }} }}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {{ prefix: "/" }}
                direct_response: {{ status: 200, body: {{ inline_string: "hello" }} }}
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
"#
    )
}

const BROKEN_CONFIG: &str = "
admin:
  address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
static_resources:
  listeners:
  - name: main
    bogus_field: 1
";

#[test]
fn starts_envoy_reads_ready_stats_and_rss_then_kills_it_on_drop() {
    let port = free_port().expect("free port");
    let envoy = EnvoyProcess::start(&direct_response_config(port), EnvoyOptions::default())
        .expect("envoy starts");
    assert_ne!(envoy.admin_port(), 0);
    let ready = envoy.admin_get("/ready").expect("admin answers");
    assert_eq!((ready.status, ready.text().trim()), (200, "LIVE"));

    let client = HttpClient::new();
    for _ in 0..20 {
        let response = client
            .get_blocking(port, "/", &[])
            .expect("listener answers");
        assert_eq!((response.status, response.text().as_str()), (200, "hello"));
    }
    assert_eq!(envoy.stat("server.live").expect("stats"), Some(1));
    assert_eq!(
        envoy.stat("http.ingress.downstream_rq_2xx").expect("stats"),
        Some(20)
    );
    assert_eq!(
        envoy
            .stat("http.ingress.downstream_cx_total")
            .expect("stats"),
        Some(1),
        "the client keeps one connection alive"
    );
    assert_eq!(envoy.stat("no.such.stat").expect("stats"), None);
    assert!(envoy.rss_kib().expect("rss") > 0);
    assert!(envoy.cpu_ticks().is_ok());
    assert!(envoy.is_running());
    assert!(
        envoy.log().contains("starting main dispatch loop"),
        "{}",
        envoy.log()
    );

    let pid = envoy.pid();
    drop(envoy);
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "envoy {pid} still exists after drop"
    );
}

#[test]
fn several_envoys_run_side_by_side() {
    let a = EnvoyProcess::start(
        &direct_response_config(free_port().expect("free port")),
        EnvoyOptions::default(),
    )
    .expect("first envoy starts");
    let b = EnvoyProcess::start(
        &direct_response_config(free_port().expect("free port")),
        EnvoyOptions::default().with_concurrency(2),
    )
    .expect("second envoy starts beside the first");
    assert_ne!(a.admin_port(), b.admin_port());
    assert!(a.is_running() && b.is_running());
}

#[test]
fn start_fails_with_the_log_tail_on_a_bad_config() {
    let err = EnvoyProcess::start(BROKEN_CONFIG, EnvoyOptions::default())
        .expect_err("a broken config does not start");
    let message = err.to_string();
    assert!(message.contains("exited"), "{message}");
    assert!(
        message.contains("bogus_field"),
        "log tail names the problem: {message}"
    );
}

#[test]
fn start_expect_failure_returns_the_log() {
    let log = EnvoyProcess::start_expect_failure(BROKEN_CONFIG, EnvoyOptions::default())
        .expect("envoy refuses the config");
    assert!(log.contains("bogus_field"), "{log}");
}

#[test]
fn start_expect_failure_is_an_error_when_envoy_starts() {
    let err = EnvoyProcess::start_expect_failure(
        &direct_response_config(free_port().expect("free port")),
        EnvoyOptions::default().with_ready_timeout(Duration::from_secs(20)),
    )
    .expect_err("a good config starts");
    assert!(
        err.to_string()
            .contains("started although it should have failed"),
        "{err}"
    );
}

#[test]
fn a_pinned_envoy_runs_on_its_core() {
    let envoy = EnvoyProcess::start(
        &direct_response_config(free_port().expect("free port")),
        EnvoyOptions::default().with_core(0),
    )
    .expect("pinned envoy starts");
    let status = std::fs::read_to_string(format!("/proc/{}/status", envoy.pid())).expect("status");
    let allowed = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .map(str::trim);
    assert_eq!(allowed, Some("0"), "{status}");
}

#[test]
fn validate_accepts_a_good_config_and_rejects_a_bad_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let good = dir.path().join("good.yaml");
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&good, direct_response_config(10000)).expect("write");
    std::fs::write(&bad, BROKEN_CONFIG).expect("write");
    validate(&good).expect("good config validates");
    let err = validate(&bad).expect_err("bad config is rejected");
    assert!(err.to_string().contains("bogus_field"), "{err}");
    validate_yaml(&direct_response_config(10000)).expect("in-memory config validates");
}

#[test]
fn render_substitutes_every_occurrence_and_refuses_absent_placeholders() {
    let template = "admin: 9901\nlistener: 10000\nagain: 10000\n";
    let rendered = render(
        template,
        &[
            ("9901", "40001".to_string()),
            ("10000", "40002".to_string()),
        ],
    )
    .expect("all placeholders present");
    assert_eq!(rendered, "admin: 40001\nlistener: 40002\nagain: 40002\n");
    let cases = [("15000", "absent port"), ("", "empty placeholder")];
    for (from, reason) in cases {
        let result = render(template, &[(from, "1".to_string())]);
        assert!(result.is_err(), "{reason}: {result:?}");
    }
}
