//! The proxy-wasm 0.2.1 imports (module `env`), one `func_wrap` each.
//!
//! Signatures follow the Rust SDK's `hostcalls.rs` (wasm32: pointers and
//! `usize` are `u32`). Every call is recorded as a [`HostCall`], then the
//! body runs; `Err(Status)` becomes that status code for the guest, a trap
//! (e.g. in the guest's allocator) propagates.

use wasmtime::{Caller, Linker};

use super::abi::{BufferType, HostError, HostResult, LogLevel, MapType, Status};
use super::callouts::GrpcRequest;
use super::headers::{deserialize_pairs, serialize_pairs, string_pairs};
use super::memory;
use super::records::{HostCall, LocalResponse, StreamControl, StreamControlKind};
use super::state::HostState;

type C<'a> = Caller<'a, HostState>;

/// Records the call, runs `body`, and turns its result into a status code.
fn hostcall(
    caller: &mut C<'_>,
    name: &str,
    body: impl FnOnce(&mut C<'_>) -> HostResult,
) -> wasmtime::Result<u32> {
    let state = caller.data_mut();
    let context_id = state.context_id();
    state.host_calls.push(HostCall {
        name: name.to_string(),
        context_id,
    });
    match body(caller) {
        Ok(()) => Ok(0),
        Err(HostError::Status(status)) => Ok(status as u32),
        Err(HostError::Trap(error)) => Err(error),
    }
}

/// Reads and lowercases a header name.
fn read_key(c: &C<'_>, ptr: u32, len: u32) -> Result<String, Status> {
    memory::read_string(c, ptr, len).map(|k| k.to_ascii_lowercase())
}

/// Adds every proxy-wasm import the host implements.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    add_logging_and_time(linker)?;
    add_buffers_and_headers(linker)?;
    add_properties_and_shared_data(linker)?;
    add_shared_queues(linker)?;
    add_stream_control(linker)?;
    add_callouts(linker)?;
    add_contexts(linker)?;
    add_metrics(linker)?;
    Ok(())
}

fn add_logging_and_time(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "proxy_log",
        |mut c: C<'_>, level: u32, ptr: u32, len: u32| {
            hostcall(&mut c, "proxy_log", |c| {
                let level = LogLevel::from_abi(level).ok_or(Status::BadArgument)?;
                let message = memory::read_string(c, ptr, len)?;
                c.data_mut().log(level, message);
                Ok(())
            })
        },
    )?;
    linker.func_wrap("env", "proxy_get_log_level", |mut c: C<'_>, ret: u32| {
        hostcall(&mut c, "proxy_get_log_level", |c| {
            let level = c.data().log_level.to_abi();
            Ok(memory::write_u32(c, ret, level)?)
        })
    })?;
    linker.func_wrap(
        "env",
        "proxy_get_current_time_nanoseconds",
        |mut c: C<'_>, ret: u32| {
            hostcall(&mut c, "proxy_get_current_time_nanoseconds", |c| {
                let now = c.data().clock.unix_nanos();
                Ok(memory::write_u64(c, ret, now)?)
            })
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_set_tick_period_milliseconds",
        |mut c: C<'_>, period: u32| {
            // Envoy: `setTickPeriod(root_context_id_ ? root_context_id_ : id_)`,
            // the root's period whichever context asks.
            hostcall(&mut c, "proxy_set_tick_period_milliseconds", |c| {
                let state = c.data_mut();
                let now = state.clock.monotonic_nanos();
                state.tick_timer.set_period(period, now);
                Ok(())
            })
        },
    )?;
    Ok(())
}

fn add_buffers_and_headers(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "proxy_get_buffer_bytes",
        |mut c: C<'_>, kind: u32, start: u32, max: u32, ptr_ptr: u32, size_ptr: u32| {
            hostcall(&mut c, "proxy_get_buffer_bytes", |c| {
                let kind = BufferType::from_abi(kind)?;
                let buffer = c.data().buffer(kind).ok_or(Status::NotFound)?;
                // Clamped to the buffer; nothing left is a null pointer, size 0.
                let start = (start as usize).min(buffer.len());
                let end = start.saturating_add(max as usize).min(buffer.len());
                let bytes = buffer[start..end].to_vec();
                memory::return_bytes(c, &bytes, ptr_ptr, size_ptr)
            })
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_header_map_pairs",
        |mut c: C<'_>, map: u32, ptr_ptr: u32, size_ptr: u32| {
            hostcall(&mut c, "proxy_get_header_map_pairs", |c| {
                let map = MapType::from_abi(map)?;
                let pairs = c
                    .data()
                    .header_map(map)
                    .map(|m| m.pairs().to_vec())
                    .unwrap_or_default();
                // No pairs (or no map) is a null pointer, size 0, not an
                // encoded empty map.
                let bytes = if pairs.is_empty() {
                    Vec::new()
                } else {
                    serialize_pairs(&pairs)
                };
                memory::return_bytes(c, &bytes, ptr_ptr, size_ptr)
            })
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_set_header_map_pairs",
        |mut c: C<'_>, map: u32, ptr: u32, len: u32| {
            hostcall(&mut c, "proxy_set_header_map_pairs", |c| {
                let map = MapType::from_abi(map)?;
                let pairs = string_pairs(deserialize_pairs(&memory::read(c, ptr, len)?));
                c.data_mut().header_map_mut(map)?.set_all(&pairs);
                Ok(())
            })
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_header_map_value",
        |mut c: C<'_>, map: u32, key_ptr: u32, key_len: u32, ptr_ptr: u32, size_ptr: u32| {
            hostcall(&mut c, "proxy_get_header_map_value", |c| {
                let map = MapType::from_abi(map)?;
                let key = read_key(c, key_ptr, key_len)?;
                let value = c.data().header_value(map, &key)?;
                memory::return_bytes(c, value.as_bytes(), ptr_ptr, size_ptr)
            })
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_replace_header_map_value",
        |mut c: C<'_>, map: u32, key_ptr: u32, key_len: u32, value_ptr: u32, value_len: u32| {
            hostcall(&mut c, "proxy_replace_header_map_value", |c| {
                if c.data().refuse_header_writes {
                    return Err(Status::BadArgument.into());
                }
                let map = MapType::from_abi(map)?;
                let key = read_key(c, key_ptr, key_len)?;
                let value = memory::read_string(c, value_ptr, value_len)?;
                c.data_mut().header_map_mut(map)?.replace(&key, &value);
                Ok(())
            })
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_remove_header_map_value",
        |mut c: C<'_>, map: u32, key_ptr: u32, key_len: u32| {
            hostcall(&mut c, "proxy_remove_header_map_value", |c| {
                if c.data().refuse_header_writes {
                    return Err(Status::BadArgument.into());
                }
                let map = MapType::from_abi(map)?;
                let key = read_key(c, key_ptr, key_len)?;
                c.data_mut().header_map_mut(map)?.remove(&key);
                Ok(())
            })
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_add_header_map_value",
        |mut c: C<'_>, map: u32, key_ptr: u32, key_len: u32, value_ptr: u32, value_len: u32| {
            hostcall(&mut c, "proxy_add_header_map_value", |c| {
                if c.data().refuse_header_writes {
                    return Err(Status::BadArgument.into());
                }
                let map = MapType::from_abi(map)?;
                let key = read_key(c, key_ptr, key_len)?;
                let value = memory::read_string(c, value_ptr, value_len)?;
                c.data_mut().header_map_mut(map)?.add(&key, &value);
                Ok(())
            })
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_header_map_size",
        |mut c: C<'_>, map: u32, ret: u32| {
            hostcall(&mut c, "proxy_get_header_map_size", |c| {
                let map = MapType::from_abi(map)?;
                let size = c.data_mut().header_map_mut(map)?.byte_size();
                let size = u32::try_from(size).map_err(|_| Status::BadArgument)?;
                Ok(memory::write_u32(c, ret, size)?)
            })
        },
    )?;
    Ok(())
}

fn add_properties_and_shared_data(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "proxy_get_property",
        |mut c: C<'_>, path_ptr: u32, path_len: u32, ptr_ptr: u32, size_ptr: u32| {
            hostcall(&mut c, "proxy_get_property", |c| {
                let path = memory::read(c, path_ptr, path_len)?;
                let value = c.data().property(&path)?;
                memory::return_bytes(c, &value, ptr_ptr, size_ptr)
            })
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_set_property",
        |mut c: C<'_>, path_ptr: u32, path_len: u32, value_ptr: u32, value_len: u32| {
            hostcall(&mut c, "proxy_set_property", |c| {
                let path = memory::read(c, path_ptr, path_len)?;
                let value = memory::read(c, value_ptr, value_len)?;
                Ok(c.data_mut().set_property(path, value)?)
            })
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_shared_data",
        |mut c: C<'_>, key_ptr: u32, key_len: u32, ptr_ptr: u32, size_ptr: u32, cas_ptr: u32| {
            hostcall(&mut c, "proxy_get_shared_data", |c| {
                let key = memory::read(c, key_ptr, key_len)?;
                let (value, cas) = c.data().shared_data.get(&key)?;
                memory::return_bytes(c, &value, ptr_ptr, size_ptr)?;
                Ok(memory::write_u32(c, cas_ptr, cas)?)
            })
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_set_shared_data",
        |mut c: C<'_>, key_ptr: u32, key_len: u32, value_ptr: u32, value_len: u32, cas: u32| {
            hostcall(&mut c, "proxy_set_shared_data", |c| {
                let key = memory::read(c, key_ptr, key_len)?;
                let value = memory::read(c, value_ptr, value_len)?;
                Ok(c.data_mut().shared_data.set(key, value, cas)?)
            })
        },
    )?;
    Ok(())
}

fn add_shared_queues(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "proxy_register_shared_queue",
        |mut c: C<'_>, name_ptr: u32, name_len: u32, ret: u32| {
            hostcall(&mut c, "proxy_register_shared_queue", |c| {
                let name = memory::read_string(c, name_ptr, name_len)?;
                let token = c.data_mut().shared_queues.register(&name);
                Ok(memory::write_u32(c, ret, token)?)
            })
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_resolve_shared_queue",
        |mut c: C<'_>, vm_id_ptr: u32, vm_id_len: u32, name_ptr: u32, name_len: u32, ret: u32| {
            hostcall(&mut c, "proxy_resolve_shared_queue", |c| {
                let vm_id = memory::read_string(c, vm_id_ptr, vm_id_len)?;
                let name = memory::read_string(c, name_ptr, name_len)?;
                let token = c.data().shared_queues.resolve(&vm_id, &name)?;
                Ok(memory::write_u32(c, ret, token)?)
            })
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_enqueue_shared_queue",
        |mut c: C<'_>, token: u32, value_ptr: u32, value_len: u32| {
            hostcall(&mut c, "proxy_enqueue_shared_queue", |c| {
                let value = memory::read(c, value_ptr, value_len)?;
                Ok(c.data_mut().shared_queues.enqueue(token, value)?)
            })
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_dequeue_shared_queue",
        |mut c: C<'_>, token: u32, ptr_ptr: u32, size_ptr: u32| {
            hostcall(&mut c, "proxy_dequeue_shared_queue", |c| {
                let value = c.data_mut().shared_queues.dequeue(token)?;
                memory::return_bytes(c, &value, ptr_ptr, size_ptr)
            })
        },
    )?;
    Ok(())
}

fn stream_control(c: &mut C<'_>, kind: StreamControlKind, stream_type: u32) -> HostResult {
    if stream_type > 3 {
        return Err(Status::BadArgument.into());
    }
    let state = c.data_mut();
    if kind == StreamControlKind::Continue && stream_type <= 1 {
        state.continue_stream();
    }
    let context_id = state.context_id();
    state.stream_controls.push(StreamControl {
        context_id,
        kind,
        stream_type,
    });
    Ok(())
}

fn add_stream_control(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "proxy_continue_stream",
        |mut c: C<'_>, stream_type: u32| {
            hostcall(&mut c, "proxy_continue_stream", |c| {
                stream_control(c, StreamControlKind::Continue, stream_type)
            })
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_close_stream",
        |mut c: C<'_>, stream_type: u32| {
            hostcall(&mut c, "proxy_close_stream", |c| {
                stream_control(c, StreamControlKind::Close, stream_type)
            })
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_send_local_response",
        |mut c: C<'_>,
         status_code: u32,
         details_ptr: u32,
         details_len: u32,
         body_ptr: u32,
         body_len: u32,
         headers_ptr: u32,
         headers_len: u32,
         grpc_status: i32| {
            hostcall(&mut c, "proxy_send_local_response", |c| {
                let details = memory::read_string(c, details_ptr, details_len)?;
                let body = memory::read(c, body_ptr, body_len)?;
                let headers = string_pairs(deserialize_pairs(&memory::read(
                    c,
                    headers_ptr,
                    headers_len,
                )?));
                let state = c.data_mut();
                let context_id = state.context_id();
                state.local_responses.push(LocalResponse {
                    context_id,
                    status_code,
                    details,
                    body,
                    headers,
                    grpc_status,
                });
                Ok(())
            })
        },
    )?;
    Ok(())
}

fn add_callouts(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "proxy_http_call",
        |mut c: C<'_>,
         upstream_ptr: u32,
         upstream_len: u32,
         headers_ptr: u32,
         headers_len: u32,
         body_ptr: u32,
         body_len: u32,
         trailers_ptr: u32,
         trailers_len: u32,
         timeout_ms: u32,
         token_ptr: u32| {
            hostcall(&mut c, "proxy_http_call", |c| {
                let cluster = memory::read_string(c, upstream_ptr, upstream_len)?;
                let headers = string_pairs(deserialize_pairs(&memory::read(
                    c,
                    headers_ptr,
                    headers_len,
                )?));
                let body = memory::read(c, body_ptr, body_len)?;
                let trailers = string_pairs(deserialize_pairs(&memory::read(
                    c,
                    trailers_ptr,
                    trailers_len,
                )?));
                let state = c.data_mut();
                let context_id = state.context_id();
                let token = state
                    .callouts
                    .dispatch_http(context_id, cluster, headers, body, trailers, timeout_ms)?;
                Ok(memory::write_u32(c, token_ptr, token)?)
            })
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_grpc_call",
        |mut c: C<'_>,
         upstream_ptr: u32,
         upstream_len: u32,
         service_ptr: u32,
         service_len: u32,
         method_ptr: u32,
         method_len: u32,
         metadata_ptr: u32,
         metadata_len: u32,
         message_ptr: u32,
         message_len: u32,
         timeout_ms: u32,
         token_ptr: u32| {
            hostcall(&mut c, "proxy_grpc_call", |c| {
                let initial_metadata =
                    deserialize_pairs(&memory::read(c, metadata_ptr, metadata_len)?)
                        .into_iter()
                        .map(|(k, v)| (String::from_utf8_lossy(&k).to_ascii_lowercase(), v))
                        .collect();
                let request = GrpcRequest {
                    upstream: memory::read(c, upstream_ptr, upstream_len)?,
                    service: memory::read_string(c, service_ptr, service_len)?,
                    method: memory::read_string(c, method_ptr, method_len)?,
                    initial_metadata,
                    message: memory::read(c, message_ptr, message_len)?,
                    timeout_ms,
                };
                let state = c.data_mut();
                let context_id = state.context_id();
                let token = state.callouts.dispatch_grpc(context_id, request)?;
                Ok(memory::write_u32(c, token_ptr, token)?)
            })
        },
    )?;
    linker.func_wrap("env", "proxy_grpc_cancel", |mut c: C<'_>, token: u32| {
        hostcall(&mut c, "proxy_grpc_cancel", |c| {
            Ok(c.data_mut().callouts.cancel_grpc(token)?)
        })
    })?;
    linker.func_wrap("env", "proxy_grpc_close", |mut c: C<'_>, token: u32| {
        hostcall(&mut c, "proxy_grpc_close", |c| {
            Ok(c.data_mut().callouts.cancel_grpc(token)?)
        })
    })?;
    linker.func_wrap(
        "env",
        "proxy_get_status",
        |mut c: C<'_>, code_ptr: u32, ptr_ptr: u32, size_ptr: u32| {
            hostcall(&mut c, "proxy_get_status", |c| {
                let (code, message) = c.data().status.clone();
                memory::write_u32(c, code_ptr, code)?;
                memory::return_bytes(c, message.as_bytes(), ptr_ptr, size_ptr)
            })
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_call_foreign_function",
        |mut c: C<'_>,
         _name_ptr: u32,
         _name_len: u32,
         _args_ptr: u32,
         _args_len: u32,
         _ptr_ptr: u32,
         _size_ptr: u32| {
            // No foreign functions are registered.
            hostcall(&mut c, "proxy_call_foreign_function", |_| {
                Err(Status::NotFound.into())
            })
        },
    )?;
    Ok(())
}

fn add_contexts(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "proxy_set_effective_context",
        |mut c: C<'_>, context_id: u32| {
            hostcall(&mut c, "proxy_set_effective_context", |c| {
                Ok(c.data_mut().set_effective_context(context_id)?)
            })
        },
    )?;
    linker.func_wrap("env", "proxy_done", |mut c: C<'_>| {
        // Only valid after the host asked a root context to shut down and
        // its `proxy_on_done` returned false; this host never does.
        hostcall(&mut c, "proxy_done", |_| Err(Status::NotFound.into()))
    })?;
    Ok(())
}

fn add_metrics(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "proxy_define_metric",
        |mut c: C<'_>, kind: u32, name_ptr: u32, name_len: u32, ret: u32| {
            hostcall(&mut c, "proxy_define_metric", |c| {
                let name = memory::read_string(c, name_ptr, name_len)?;
                let id = c.data_mut().metrics.define(kind, &name)?;
                Ok(memory::write_u32(c, ret, id)?)
            })
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_metric",
        |mut c: C<'_>, id: u32, ret: u32| {
            hostcall(&mut c, "proxy_get_metric", |c| {
                let value = c.data().metrics.get(id)?;
                Ok(memory::write_u64(c, ret, value)?)
            })
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_record_metric",
        |mut c: C<'_>, id: u32, value: u64| {
            hostcall(&mut c, "proxy_record_metric", |c| {
                Ok(c.data_mut().metrics.record(id, value)?)
            })
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_increment_metric",
        |mut c: C<'_>, id: u32, offset: i64| {
            hostcall(&mut c, "proxy_increment_metric", |c| {
                Ok(c.data_mut().metrics.increment(id, offset)?)
            })
        },
    )?;
    Ok(())
}
