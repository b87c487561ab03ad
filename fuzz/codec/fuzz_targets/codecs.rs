//! The built-in models' codecs, shared by the targets.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use aec::codec::{Builtin, ImageCodec};

/// Each built-in model's codec with a limit of `max_pixels`, loaded on first use (loading
/// takes far longer than a coding); a target uses one limit throughout.
pub fn codec(model: Builtin, max_pixels: u64) -> Arc<dyn ImageCodec> {
    static CODECS: OnceLock<Mutex<HashMap<String, Arc<dyn ImageCodec>>>> = OnceLock::new();
    let mut codecs = CODECS.get_or_init(Default::default).lock().unwrap();
    codecs
        .entry(model.name())
        .or_insert_with(|| Arc::from(model.codec(max_pixels).expect("a built-in model loads")))
        .clone()
}
