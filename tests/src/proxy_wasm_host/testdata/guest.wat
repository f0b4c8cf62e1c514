;; A hand-written proxy-wasm 0.2.1 guest for the host's self-tests. It reports
;; what it saw through headers it adds, gauges and logs.
(module
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (import "env" "proxy_get_buffer_bytes" (func $get_buffer (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_header_map_value" (func $get_header (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_replace_header_map_value" (func $replace_header (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_add_header_map_value" (func $add_header (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_property" (func $get_property (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_http_call" (func $http_call (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_grpc_call" (func $grpc_call (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_status" (func $get_status (param i32 i32 i32) (result i32)))
  (import "env" "proxy_set_tick_period_milliseconds" (func $set_tick (param i32) (result i32)))
  (import "env" "proxy_get_current_time_nanoseconds" (func $now (param i32) (result i32)))
  (import "env" "proxy_define_metric" (func $define_metric (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_record_metric" (func $record_metric (param i32 i64) (result i32)))
  (import "env" "proxy_increment_metric" (func $increment_metric (param i32 i64) (result i32)))
  (import "env" "proxy_register_shared_queue" (func $register_queue (param i32 i32 i32) (result i32)))
  (import "env" "proxy_enqueue_shared_queue" (func $enqueue (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))

  (memory (export "memory") 2)

  ;; Scratch: 0x100 returned pointer, 0x104 returned size, 0x108 token,
  ;; 0x10c metric id, 0x110 time (u64), 0x118 status code, 0x11c queue id.
  (data (i32.const 0x200) "x-b")
  (data (i32.const 0x208) "new")
  (data (i32.const 0x210) "x-a")
  (data (i32.const 0x218) "x-first")
  (data (i32.const 0x220) "request\00headers\00x-a")
  (data (i32.const 0x240) "x-joined")
  (data (i32.const 0x248) "known")
  (data (i32.const 0x250) "unknown")
  ;; {":method": "POST", ":path": "/x", ":authority": "h"}, 63 bytes.
  (data (i32.const 0x260)
    "\03\00\00\00"
    "\07\00\00\00\04\00\00\00" "\05\00\00\00\02\00\00\00" "\0a\00\00\00\01\00\00\00"
    ":method\00POST\00:path\00/x\00:authority\00h\00")
  (data (i32.const 0x2a0) "body")
  (data (i32.const 0x2b0) "known_status")
  (data (i32.const 0x2c0) "unknown_status")
  (data (i32.const 0x2d0) "ticks")
  (data (i32.const 0x2d8) "response_headers")
  (data (i32.const 0x2f0) ":status")
  (data (i32.const 0x310) "response\00code")
  (data (i32.const 0x320) "response_code")
  (data (i32.const 0x330) "now_s")
  (data (i32.const 0x338) "x-crash")
  (data (i32.const 0x340) "svc")
  (data (i32.const 0x344) "M")
  (data (i32.const 0x348) "grpc_status")
  (data (i32.const 0x358) "late_read")
  (data (i32.const 0x368) "log_read")
  (data (i32.const 0x378) "done_after_log")
  (data (i32.const 0x388) "q")
  (data (i32.const 0x410) "guest panicked: boom\n")

  (global $heap (mut i32) (i32.const 0x10000))
  (global $logged (mut i32) (i32.const 0))

  (func (export "proxy_abi_version_0_2_1"))

  (func (export "proxy_on_memory_allocate") (param $size i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $size)))
    (local.get $p))

  ;; Defines (or finds) a metric and returns its id.
  (func $metric (param $type i32) (param $name i32) (param $len i32) (result i32)
    (drop (call $define_metric (local.get $type) (local.get $name) (local.get $len) (i32.const 0x10c)))
    (i32.load (i32.const 0x10c)))

  (func $gauge (param $name i32) (param $len i32) (param $value i64)
    (drop (call $record_metric (call $metric (i32.const 1) (local.get $name) (local.get $len)) (local.get $value))))

  ;; Logs the bytes the host last returned, at info.
  (func $log_returned
    (drop (call $log (i32.const 2) (i32.load (i32.const 0x100)) (i32.load (i32.const 0x104)))))

  (func (export "proxy_on_context_create") (param i32 i32))

  (func (export "proxy_on_vm_start") (param i32 i32) (result i32) (i32.const 1))

  ;; Logs the plugin configuration, sets a 250 ms tick, records the time;
  ;; accepts any non-empty configuration.
  (func (export "proxy_on_configure") (param $ctx i32) (param $size i32) (result i32)
    (i32.store (i32.const 0x104) (i32.const 0))
    (drop (call $get_buffer (i32.const 7) (i32.const 0) (local.get $size) (i32.const 0x100) (i32.const 0x104)))
    (call $log_returned)
    (drop (call $set_tick (i32.const 250)))
    (drop (call $now (i32.const 0x110)))
    (call $gauge (i32.const 0x330) (i32.const 5)
      (i64.div_u (i64.load (i32.const 0x110)) (i64.const 1000000000)))
    (i32.ne (local.get $size) (i32.const 0)))

  (func (export "proxy_on_request_headers") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
    ;; x-b: new
    (drop (call $replace_header (i32.const 0) (i32.const 0x200) (i32.const 3) (i32.const 0x208) (i32.const 3)))
    ;; x-first: first value of x-a
    (if (i32.eqz (call $get_header (i32.const 0) (i32.const 0x210) (i32.const 3) (i32.const 0x100) (i32.const 0x104)))
      (then (drop (call $add_header (i32.const 0) (i32.const 0x218) (i32.const 7)
        (i32.load (i32.const 0x100)) (i32.load (i32.const 0x104))))))
    ;; x-joined: request.headers.x-a
    (if (i32.eqz (call $get_property (i32.const 0x220) (i32.const 19) (i32.const 0x100) (i32.const 0x104)))
      (then (drop (call $add_header (i32.const 0) (i32.const 0x240) (i32.const 8)
        (i32.load (i32.const 0x100)) (i32.load (i32.const 0x104))))))
    ;; HTTP calls to a registered and an unknown cluster; statuses as gauges.
    (call $gauge (i32.const 0x2b0) (i32.const 12) (i64.extend_i32_u
      (call $http_call (i32.const 0x248) (i32.const 5) (i32.const 0x260) (i32.const 63)
        (i32.const 0x2a0) (i32.const 4) (i32.const 0) (i32.const 0) (i32.const 1000) (i32.const 0x108))))
    (call $gauge (i32.const 0x2c0) (i32.const 14) (i64.extend_i32_u
      (call $http_call (i32.const 0x250) (i32.const 7) (i32.const 0x260) (i32.const 63)
        (i32.const 0x2a0) (i32.const 4) (i32.const 0) (i32.const 0) (i32.const 1000) (i32.const 0x108))))
    ;; A stream sets the root's tick period.
    (drop (call $set_tick (i32.const 500)))
    (i32.const 0))

  ;; response_code: the int64 property response.code; late_read: the status
  ;; of reading request header x-a after the request headers phase.
  (func (export "proxy_on_response_headers") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
    (call $gauge (i32.const 0x358) (i32.const 9) (i64.extend_i32_u
      (call $get_header (i32.const 0) (i32.const 0x210) (i32.const 3) (i32.const 0x100) (i32.const 0x104))))
    (if (i32.eqz (call $get_property (i32.const 0x310) (i32.const 13) (i32.const 0x100) (i32.const 0x104)))
      (then (call $gauge (i32.const 0x320) (i32.const 13) (i64.load (i32.load (i32.const 0x100))))))
    (i32.const 0))

  ;; done_after_log: 1 if proxy_on_log ran before proxy_on_done.
  (func (export "proxy_on_done") (param $ctx i32) (result i32)
    (call $gauge (i32.const 0x378) (i32.const 14) (i64.extend_i32_u (global.get $logged)))
    (i32.const 1))

  ;; log_read: the status of reading request header x-a in the log phase.
  ;; Then traps like a Rust panic (message on stderr, then `unreachable`)
  ;; when the request carried x-crash.
  (func (export "proxy_on_log") (param $ctx i32)
    (global.set $logged (i32.const 1))
    (call $gauge (i32.const 0x368) (i32.const 8) (i64.extend_i32_u
      (call $get_header (i32.const 0) (i32.const 0x210) (i32.const 3) (i32.const 0x100) (i32.const 0x104))))
    (if (i32.eqz (call $get_header (i32.const 0) (i32.const 0x338) (i32.const 7) (i32.const 0x100) (i32.const 0x104)))
      (then
        (i32.store (i32.const 0x400) (i32.const 0x410))
        (i32.store (i32.const 0x404) (i32.const 21))
        (drop (call $fd_write (i32.const 2) (i32.const 0x400) (i32.const 1) (i32.const 0x408)))
        unreachable)))

  (func (export "proxy_on_delete") (param i32))

  ;; Counts ticks, queues "M" on shared queue "q", and sends a unary gRPC
  ;; call to "known".
  (func (export "proxy_on_tick") (param $ctx i32)
    (drop (call $increment_metric (call $metric (i32.const 0) (i32.const 0x2d0) (i32.const 5)) (i64.const 1)))
    (drop (call $register_queue (i32.const 0x388) (i32.const 1) (i32.const 0x11c)))
    (drop (call $enqueue (i32.load (i32.const 0x11c)) (i32.const 0x344) (i32.const 1)))
    (drop (call $grpc_call (i32.const 0x248) (i32.const 5) (i32.const 0x340) (i32.const 3)
      (i32.const 0x344) (i32.const 1) (i32.const 0) (i32.const 0) (i32.const 0x2a0) (i32.const 4)
      (i32.const 0) (i32.const 0x108))))

  ;; response_headers: the header count; logs :status when readable.
  (func (export "proxy_on_http_call_response") (param $ctx i32) (param $token i32) (param $nh i32) (param $bs i32) (param $nt i32)
    (call $gauge (i32.const 0x2d8) (i32.const 16) (i64.extend_i32_u (local.get $nh)))
    (if (i32.eqz (call $get_header (i32.const 6) (i32.const 0x2f0) (i32.const 7) (i32.const 0x100) (i32.const 0x104)))
      (then (call $log_returned))))

  ;; Logs the received message.
  (func (export "proxy_on_grpc_receive") (param $ctx i32) (param $token i32) (param $size i32)
    (drop (call $get_buffer (i32.const 5) (i32.const 0) (local.get $size) (i32.const 0x100) (i32.const 0x104)))
    (call $log_returned))

  ;; grpc_status: the status; logs the status message.
  (func (export "proxy_on_grpc_close") (param $ctx i32) (param $token i32) (param $status i32)
    (call $gauge (i32.const 0x348) (i32.const 11) (i64.extend_i32_u (local.get $status)))
    (drop (call $get_status (i32.const 0x118) (i32.const 0x100) (i32.const 0x104)))
    (call $log_returned))
)
