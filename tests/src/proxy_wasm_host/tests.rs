//! Self-tests of the host against a hand-written WAT guest
//! (`testdata/guest.wat`), so they never depend on the filter build.

use std::sync::OnceLock;
use std::time::{Duration, UNIX_EPOCH};

use super::*;

fn guest() -> &'static WasmModule {
    static GUEST: OnceLock<WasmModule> = OnceLock::new();
    GUEST.get_or_init(|| {
        WasmModule::from_wat_or_bytes(include_str!("testdata/guest.wat")).expect("guest compiles")
    })
}

fn host() -> PluginHost {
    let mut host = PluginHost::new(guest()).expect("instantiates");
    host.add_cluster("known");
    assert!(host.configure(b"{\"k\":1}").expect("configures"));
    host
}

fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn messages(host: &PluginHost) -> Vec<&str> {
    host.logs().iter().map(|l| l.message.as_str()).collect()
}

#[test]
fn configure_sees_the_plugin_configuration_and_the_virtual_clock() {
    let mut host = host();
    assert_eq!(messages(&host), ["{\"k\":1}"]);
    assert_eq!(host.logs()[0].level, LogLevel::Info);
    assert_eq!(host.logs()[0].context_id, host.root_context_id());
    assert_eq!(
        host.metric("now_s"),
        Some(START_UNIX_SECS),
        "guest reads the host clock"
    );
    assert_eq!(host.tick_period(), Some(Duration::from_millis(250)));
    assert!(
        !host.configure(b"").expect("runs"),
        "the guest rejects an empty configuration"
    );
    assert!(
        !host.vm_failed(),
        "a rejected configuration does not fail the VM"
    );
}

#[test]
fn replace_removes_all_values_and_reads_return_the_first_or_all_joined() {
    let mut host = host();
    let s = host.create_http_stream().expect("stream");
    let headers = [
        (":path", "/"),
        ("x-a", "1"),
        ("x-b", "old"),
        ("X-A", "2"),
        ("x-b", "older"),
    ];
    let action = host.on_request_headers(s, &headers, true).expect("runs");
    assert_eq!(action, Action::Continue);
    let want = [
        (":path", "/"),
        ("x-a", "1"),
        ("x-a", "2"),
        ("x-b", "new"),
        ("x-first", "1"),
        ("x-joined", "1,2"),
    ];
    assert_eq!(host.request_headers(s), owned(&want));
}

#[test]
fn an_absent_header_is_not_found_for_both_reads() {
    let mut host = host();
    let s = host.create_http_stream().expect("stream");
    host.on_request_headers(s, &[(":path", "/")], true)
        .expect("runs");
    let headers = host.request_headers(s);
    assert!(
        !headers
            .iter()
            .any(|(k, _)| k == "x-first" || k == "x-joined"),
        "{headers:?}"
    );
}

#[test]
fn http_calls_need_a_registered_cluster() {
    let mut host = host();
    let s = host.create_http_stream().expect("stream");
    host.on_request_headers(s, &[], true).expect("runs");
    assert_eq!(host.metric("known_status"), Some(0), "Ok");
    assert_eq!(host.metric("unknown_status"), Some(2), "BadArgument");
    let calls = host.take_http_callouts();
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_eq!(call.cluster, "known");
    assert_eq!(
        call.headers,
        owned(&[(":method", "POST"), (":path", "/x"), (":authority", "h")])
    );
    assert_eq!(call.body, b"body");
    assert!(call.trailers.is_empty());
    assert_eq!(call.timeout, Duration::from_millis(1000));
    assert_eq!(call.context_id, s.context_id());
    assert!(host.http_callouts().is_empty(), "taken");
}

#[test]
fn http_call_responses_go_to_the_root_with_headers_readable() {
    let mut host = host();
    let s = host.create_http_stream().expect("stream");
    host.on_request_headers(s, &[], true).expect("runs");
    let token = host.take_http_callouts()[0].token;
    host.respond_http_call(token, &[(":status", "204"), ("x", "y")], b"ok")
        .expect("responds");
    assert_eq!(host.metric("response_headers"), Some(2));
    let last = host.logs().last().expect("logged");
    assert_eq!(last.message, "204");
    assert_eq!(
        last.context_id,
        host.root_context_id(),
        "callouts belong to the root"
    );
    assert!(
        host.respond_http_call(token, &[(":status", "200")], b"")
            .is_err(),
        "answered once"
    );
}

#[test]
fn a_failed_http_call_has_no_response_headers() {
    let mut host = host();
    let s = host.create_http_stream().expect("stream");
    host.on_request_headers(s, &[], true).expect("runs");
    let token = host.take_http_callouts()[0].token;
    let logged = host.logs().len();
    host.respond_http_call(token, &[], b"").expect("responds");
    assert_eq!(host.metric("response_headers"), Some(0));
    assert_eq!(
        host.logs().len(),
        logged,
        "reading :status failed (BadArgument), nothing logged"
    );
    assert!(!host.vm_failed());
}

#[test]
fn the_tick_period_set_from_a_stream_is_the_roots() {
    let mut host = host();
    let s = host.create_http_stream().expect("stream");
    host.clear_host_calls();
    host.on_request_headers(s, &[], true).expect("runs");
    assert_eq!(host.tick_period(), Some(Duration::from_millis(500)));
    let call = host
        .host_calls()
        .iter()
        .find(|c| c.name == "proxy_set_tick_period_milliseconds")
        .expect("recorded");
    assert_eq!(call.context_id, s.context_id());
    host.tick().expect("tick");
    host.tick().expect("tick");
    assert_eq!(host.metric("ticks"), Some(2));
}

#[test]
fn tick_needs_a_tick_period() {
    let mut host = PluginHost::new(guest()).expect("instantiates");
    assert_eq!(host.tick_period(), None);
    assert!(host.tick().is_err());
}

#[test]
fn grpc_calls_succeed_with_a_message_or_close_with_a_status() {
    let mut host = host();
    host.tick().expect("tick");
    let calls = host.take_grpc_callouts();
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_eq!(call.cluster, "known");
    assert_eq!(call.authority, None, "plain cluster name");
    assert_eq!((call.service.as_str(), call.method.as_str()), ("svc", "M"));
    assert_eq!(call.message, b"body");
    host.respond_grpc_call(call.token, 14, b"unavailable")
        .expect("responds");
    assert_eq!(host.metric("grpc_status"), Some(14));
    assert_eq!(messages(&host).last(), Some(&"unavailable"));

    host.tick().expect("tick");
    let token = host.take_grpc_callouts()[0].token;
    host.respond_grpc_call(token, 0, b"hello")
        .expect("responds");
    assert_eq!(messages(&host).last(), Some(&"hello"));
    assert!(
        host.respond_grpc_call(token, 0, b"").is_err(),
        "answered once"
    );
}

#[test]
fn stream_properties_win_over_global_ones() {
    let mut host = host();
    host.set_property(&["response", "code"], int_property(200));
    let s = host.create_http_stream().expect("stream");
    host.set_stream_property(s, &["response", "code"], int_property(503));
    host.on_response_headers(s, &[(":status", "503")], true)
        .expect("runs");
    assert_eq!(host.metric("response_code"), Some(503));
    let t = host.create_http_stream().expect("stream");
    host.on_response_headers(t, &[(":status", "200")], true)
        .expect("runs");
    assert_eq!(host.metric("response_code"), Some(200), "global value");
}

#[test]
fn request_headers_are_gone_after_their_phase_and_back_in_the_log_phase() {
    let mut host = host();
    let s = host.create_http_stream().expect("stream");
    host.on_request_headers(s, &[("x-a", "1")], true)
        .expect("runs");
    host.on_response_headers(s, &[(":status", "200")], true)
        .expect("runs");
    assert_eq!(host.metric("late_read"), Some(2), "BadArgument, as Envoy");
    host.finish_stream(s).expect("finishes");
    assert_eq!(
        host.metric("log_read"),
        Some(0),
        "readable in the log phase"
    );
}

#[test]
fn a_trap_fails_the_vm_with_the_guest_stderr() {
    let mut host = host();
    let s = host.create_http_stream().expect("stream");
    host.on_request_headers(s, &[("x-crash", "1")], true)
        .expect("runs");
    let error = host.finish_stream(s).expect_err("traps");
    let message = format!("{error:#}");
    assert!(message.contains("proxy_on_log"), "{message}");
    assert!(message.contains("unreachable"), "{message}");
    assert!(message.contains("guest panicked: boom"), "{message}");
    assert!(host.vm_failed());
    assert_eq!(host.stderr(), "guest panicked: boom\n");
    assert!(
        host.create_http_stream().is_err(),
        "a failed VM takes no more calls"
    );
}

#[test]
fn finished_streams_take_no_more_calls() {
    let mut host = host();
    let s = host.create_http_stream().expect("stream");
    host.on_request_headers(s, &[(":path", "/")], true)
        .expect("runs");
    host.finish_stream(s).expect("finishes");
    assert!(host.on_response_headers(s, &[], true).is_err());
    assert!(host.finish_stream(s).is_err());
    assert_eq!(
        host.request_headers(s)[0],
        (":path".to_string(), "/".to_string()),
        "still readable"
    );
}

#[test]
fn the_clock_moves_only_when_told() {
    let mut host = host();
    let start = UNIX_EPOCH + Duration::from_secs(START_UNIX_SECS);
    assert_eq!(host.now(), start);
    host.advance(Duration::from_millis(3));
    assert_eq!(host.now(), start + Duration::from_millis(3));
}

#[test]
fn set_time_steps_the_wall_clock_the_guest_reads() {
    let mut host = PluginHost::new(guest()).expect("instantiates");
    let t = UNIX_EPOCH + Duration::from_secs(2_000_000_000);
    host.set_time(t);
    assert_eq!(host.now(), t);
    assert!(host.configure(b"x").expect("configures"));
    assert_eq!(host.metric("now_s"), Some(2_000_000_000));
}

#[test]
fn advance_with_ticks_fires_each_tick_as_it_comes_due() {
    let mut host = host();
    assert_eq!(host.tick_period(), Some(Duration::from_millis(250)));
    assert_eq!(host.next_tick_in(), Some(Duration::from_millis(250)));
    let start = host.now();
    let fired = host
        .advance_with_ticks(Duration::from_millis(600))
        .expect("ticks");
    assert_eq!(fired, 2, "at 250 and 500 ms");
    assert_eq!(host.metric("ticks"), Some(2));
    assert_eq!(host.now(), start + Duration::from_millis(600));
    assert_eq!(host.next_tick_in(), Some(Duration::from_millis(150)));

    // A stream sets 500 ms: the pending tick (at 750 ms) keeps its time,
    // the next one is 500 ms after it.
    let s = host.create_http_stream().expect("stream");
    host.on_request_headers(s, &[], true).expect("runs");
    assert_eq!(host.next_tick_in(), Some(Duration::from_millis(150)));
    let fired = host
        .advance_with_ticks(Duration::from_millis(600))
        .expect("ticks");
    assert_eq!(fired, 1, "at 750 ms; the next is at 1250 ms");
    assert_eq!(host.next_tick_in(), Some(Duration::from_millis(50)));

    host.tick().expect("a manual tick re-arms the timer");
    assert_eq!(host.next_tick_in(), Some(Duration::from_millis(500)));
    assert_eq!(host.metric("ticks"), Some(4));
}

#[test]
fn shared_queues_keep_what_the_guest_enqueued() {
    let mut host = host();
    assert_eq!(host.shared_queue("q"), None, "not registered yet");
    host.tick().expect("tick");
    host.tick().expect("tick");
    assert_eq!(
        host.shared_queue("q"),
        Some(vec![b"M".to_vec(), b"M".to_vec()])
    );
}

#[test]
fn header_values_lists_every_value_of_a_name() {
    let mut host = host();
    let s = host.create_http_stream().expect("stream");
    host.on_request_headers(s, &[("x-a", "1"), ("x-c", "c"), ("X-A", "2")], true)
        .expect("runs");
    assert_eq!(host.request_header_values(s, "X-A"), ["1", "2"]);
    assert_eq!(
        host.request_header_values(s, "x-b"),
        ["new"],
        "set by the guest"
    );
    assert!(host.request_header_values(s, "x-none").is_empty());
    host.on_response_headers(s, &[(":status", "200")], true)
        .expect("runs");
    assert_eq!(host.response_header_values(s, ":status"), ["200"]);
}

#[test]
fn modules_without_a_proxy_wasm_abi_version_are_rejected() {
    let error = WasmModule::from_wat_or_bytes("(module)")
        .err()
        .expect("rejected");
    assert!(
        format!("{error:#}").contains("proxy_abi_version_0_2_1"),
        "{error:#}"
    );
}
