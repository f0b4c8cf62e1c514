//! Shared data (`proxy_{get,set}_shared_data`) and shared queues
//! (`proxy_{register,resolve,enqueue,dequeue}_shared_queue`), in memory and
//! private to one host, with proxy-wasm-cpp-host's status codes
//! (`shared_data.cc`, `shared_queue.cc`).

use std::collections::{HashMap, VecDeque};

use super::abi::Status;

/// Key-value store with compare-and-swap.
#[derive(Debug, Default)]
pub(crate) struct SharedData {
    entries: HashMap<Vec<u8>, (Vec<u8>, u32)>,
    next_cas: u32,
}

// === impl SharedData ===

impl SharedData {
    /// The value and its CAS; `NotFound` if never set.
    pub(crate) fn get(&self, key: &[u8]) -> Result<(Vec<u8>, u32), Status> {
        self.entries.get(key).cloned().ok_or(Status::NotFound)
    }

    /// A non-zero `cas` must match the current one (a missing key accepts
    /// any), else `CasMismatch`.
    pub(crate) fn set(&mut self, key: Vec<u8>, value: Vec<u8>, cas: u32) -> Result<(), Status> {
        if let Some((_, current)) = self.entries.get(&key)
            && cas != 0
            && cas != *current
        {
            return Err(Status::CasMismatch);
        }
        self.next_cas = self.next_cas.wrapping_add(1).max(1);
        self.entries.insert(key, (value, self.next_cas));
        Ok(())
    }
}

/// Named FIFO queues of byte strings. The host has one VM, whose id is the
/// empty string (what Envoy uses when `vm_config.vm_id` is unset).
#[derive(Debug, Default)]
pub(crate) struct SharedQueues {
    /// Queue name to token; tokens index `queues` from 1.
    by_name: HashMap<String, u32>,
    queues: Vec<(String, VecDeque<Vec<u8>>)>,
}

// === impl SharedQueues ===

impl SharedQueues {
    /// `proxy_register_shared_queue`: registering a name again returns the
    /// same token.
    pub(crate) fn register(&mut self, name: &str) -> u32 {
        if let Some(token) = self.by_name.get(name) {
            return *token;
        }
        self.queues.push((name.to_string(), VecDeque::new()));
        let token = u32::try_from(self.queues.len()).unwrap_or(u32::MAX);
        self.by_name.insert(name.to_string(), token);
        token
    }

    /// `proxy_resolve_shared_queue`: `NotFound` for another VM id or an
    /// unregistered name.
    pub(crate) fn resolve(&self, vm_id: &str, name: &str) -> Result<u32, Status> {
        if !vm_id.is_empty() {
            return Err(Status::NotFound);
        }
        self.by_name.get(name).copied().ok_or(Status::NotFound)
    }

    fn queue_mut(&mut self, token: u32) -> Result<&mut VecDeque<Vec<u8>>, Status> {
        let index = usize::try_from(token).ok().and_then(|t| t.checked_sub(1));
        index
            .and_then(|i| self.queues.get_mut(i))
            .map(|(_, queue)| queue)
            .ok_or(Status::NotFound)
    }

    /// `proxy_enqueue_shared_queue`.
    pub(crate) fn enqueue(&mut self, token: u32, value: Vec<u8>) -> Result<(), Status> {
        self.queue_mut(token)?.push_back(value);
        Ok(())
    }

    /// `proxy_dequeue_shared_queue`: `Empty` when nothing is queued.
    pub(crate) fn dequeue(&mut self, token: u32) -> Result<Vec<u8>, Status> {
        self.queue_mut(token)?.pop_front().ok_or(Status::Empty)
    }

    /// What is queued under `name`, oldest first.
    pub(crate) fn contents(&self, name: &str) -> Option<Vec<Vec<u8>>> {
        let token = *self.by_name.get(name)?;
        let index = usize::try_from(token).ok()?.checked_sub(1)?;
        self.queues
            .get(index)
            .map(|(_, queue)| queue.iter().cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cas_must_match_once_a_key_exists() {
        let mut data = SharedData::default();
        assert_eq!(data.get(b"k"), Err(Status::NotFound));
        data.set(b"k".to_vec(), b"1".to_vec(), 42)
            .expect("a missing key accepts any cas");
        let (_, cas) = data.get(b"k").expect("set");
        assert_eq!(
            data.set(b"k".to_vec(), b"2".to_vec(), cas + 1),
            Err(Status::CasMismatch)
        );
        data.set(b"k".to_vec(), b"2".to_vec(), cas)
            .expect("matching cas");
        data.set(b"k".to_vec(), b"3".to_vec(), 0)
            .expect("cas 0 always wins");
        assert_eq!(data.get(b"k").map(|(v, _)| v), Ok(b"3".to_vec()));
    }

    #[test]
    fn queues_are_fifo_per_name() {
        let mut queues = SharedQueues::default();
        let a = queues.register("a");
        assert_eq!(queues.register("a"), a, "same name, same token");
        let b = queues.register("b");
        assert_ne!(a, b);
        assert_eq!(queues.resolve("", "a"), Ok(a));
        assert_eq!(
            queues.resolve("other_vm", "a"),
            Err(Status::NotFound),
            "other VM"
        );
        assert_eq!(queues.resolve("", "c"), Err(Status::NotFound));
        assert_eq!(queues.dequeue(a), Err(Status::Empty));
        queues.enqueue(a, b"1".to_vec()).expect("enqueue");
        queues.enqueue(a, b"2".to_vec()).expect("enqueue");
        assert_eq!(
            queues.contents("a"),
            Some(vec![b"1".to_vec(), b"2".to_vec()])
        );
        assert_eq!(queues.dequeue(a), Ok(b"1".to_vec()));
        assert_eq!(queues.contents("b"), Some(Vec::new()));
        assert_eq!(queues.enqueue(0, Vec::new()), Err(Status::NotFound));
        assert_eq!(queues.dequeue(99), Err(Status::NotFound));
    }
}
