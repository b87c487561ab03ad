//! Which model codes or decodes a file: the built-in one, `--model FILE`, or a model file in
//! `--model-dir` whose identity matches the file's model id.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use aec::codec::{open_codec, Builtin, ImageCodec};
use aec::store::{self, hex, ModelId};
use anyhow::{bail, Context};

/// A codec from `--model FILE` (or the name of a built-in model: `reference`, `tiled-q1`, …,
/// when no such file exists), `--quality Q`, or the default built-in model.
pub fn load_codec(
    model: &Option<PathBuf>,
    quality: Option<u8>,
    max_pixels: u64,
) -> anyhow::Result<Box<dyn ImageCodec>> {
    // A file of that name wins over a built-in model's name.
    let named = |p: &PathBuf| Builtin::from_name(p.to_str()?).filter(|_| !p.exists());
    let chosen = match (model, quality) {
        (Some(path), _) => match named(path) {
            Some(b) => b,
            None => {
                return open_codec(path, max_pixels)
                    .with_context(|| format!("model {}", path.display()))
            }
        },
        (None, Some(q)) => Builtin::Quality(q),
        (None, None) => Builtin::default_model(),
    };
    Ok(chosen.codec(max_pixels)?)
}

/// A built-in model, its codec loaded when first needed.
struct Lazy {
    model: Builtin,
    codec: OnceLock<Box<dyn ImageCodec>>,
}

/// The models a decompression may use, found lazily and each loaded once.
pub struct ModelResolver {
    builtin: Vec<Lazy>,
    explicit: Option<(PathBuf, Box<dyn ImageCodec>)>,
    dir: Option<PathBuf>,
    max_pixels: u64,
    dir_models: Mutex<Option<Vec<(PathBuf, ModelId)>>>,
    loaded: Mutex<Vec<Arc<dyn ImageCodec>>>,
}

/// A codec the resolver holds or has loaded.
pub enum CodecRef<'a> {
    /// The built-in or the explicit model.
    Borrowed(&'a dyn ImageCodec),
    /// A model loaded from the folder.
    Shared(Arc<dyn ImageCodec>),
}

impl<'a> std::ops::Deref for CodecRef<'a> {
    type Target = dyn ImageCodec + 'a;
    fn deref(&self) -> &(dyn ImageCodec + 'a) {
        match self {
            CodecRef::Borrowed(c) => *c,
            CodecRef::Shared(c) => c.as_ref(),
        }
    }
}

impl ModelResolver {
    /// The built-in model, `model` and the model files in `dir`, all limited to `max_pixels`.
    pub fn new(
        model: &Option<PathBuf>,
        dir: Option<PathBuf>,
        max_pixels: u64,
    ) -> anyhow::Result<Self> {
        let explicit = match model {
            Some(path) => Some((path.clone(), load_codec(model, None, max_pixels)?)),
            None => None,
        };
        let builtin = Builtin::all()
            .into_iter()
            .map(|model| Lazy {
                model,
                codec: OnceLock::new(),
            })
            .collect();
        Ok(Self {
            builtin,
            explicit,
            dir,
            max_pixels,
            dir_models: Mutex::new(None),
            loaded: Mutex::new(Vec::new()),
        })
    }

    /// The codec whose model id starts with `id` (16 bytes from a version 1 file, 8 from a
    /// version 2 file), or an error that says where it looked.
    pub fn codec_for(&self, id: &[u8]) -> anyhow::Result<CodecRef<'_>> {
        let matches = |m: &ModelId| !id.is_empty() && m.0.starts_with(id);
        let builtin = Builtin::of_model_id(id);
        if let Some(b) = self.builtin.iter().find(|b| Some(b.model) == builtin) {
            let codec = match b.codec.get() {
                Some(c) => c,
                None => {
                    let c = b.model.codec(self.max_pixels)?;
                    b.codec.get_or_init(|| c)
                }
            };
            return Ok(CodecRef::Borrowed(codec.as_ref()));
        }
        if let Some((_, codec)) = &self.explicit {
            if matches(&codec.model_id()) {
                return Ok(CodecRef::Borrowed(codec.as_ref()));
            }
        }
        let loaded = self.loaded.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(codec) = loaded.iter().find(|c| matches(&c.model_id())) {
            return Ok(CodecRef::Shared(codec.clone()));
        }
        drop(loaded);
        if let Some(codec) = self.load_from_dir(id)? {
            return Ok(CodecRef::Shared(codec));
        }
        bail!(
            "no model with id {} (looked at: {})",
            hex(id),
            self.looked_at()
        )
    }

    /// Loads the model of the folder whose id starts with `id`, if there is one.
    fn load_from_dir(&self, id: &[u8]) -> anyhow::Result<Option<Arc<dyn ImageCodec>>> {
        let Some(dir) = &self.dir else {
            return Ok(None);
        };
        let mut cache = self
            .dir_models
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let models = match &mut *cache {
            Some(m) => m,
            None => cache.insert(scan_models(dir)?),
        };
        let Some((path, _)) = models.iter().find(|(_, m)| m.0.starts_with(id)) else {
            return Ok(None);
        };
        let codec: Arc<dyn ImageCodec> = open_codec(path, self.max_pixels)
            .with_context(|| format!("model {}", path.display()))?
            .into();
        self.loaded
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(codec.clone());
        Ok(Some(codec))
    }

    fn looked_at(&self) -> String {
        let mut looked = vec![format!("{} built-in models", self.builtin.len())];
        if let Some((path, codec)) = &self.explicit {
            looked.push(format!(
                "--model {} ({})",
                path.display(),
                hex(&codec.model_id().short())
            ));
        }
        match &self.dir {
            Some(dir) => {
                let n = self
                    .dir_models
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .as_ref()
                    .map_or(0, Vec::len);
                looked.push(format!("{n} model files in {}", dir.display()));
            }
            None => looked.push("no model folder (--model-dir or AEC_MODEL_DIR)".into()),
        }
        looked.join("; ")
    }
}

/// The identity of every `*.safetensors` file in a folder, hashed as it is read (no parsing,
/// nothing held in memory); a file over the model size limit is skipped with a warning.
fn scan_models(dir: &Path) -> anyhow::Result<Vec<(PathBuf, ModelId)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)
        .with_context(|| format!("cannot read model folder {}", dir.display()))?
    {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "safetensors") {
            match ModelId::of_file(&path) {
                Ok(id) => found.push((path, id)),
                Err(e @ store::ModelError::TooLarge { .. }) => {
                    eprintln!("aec: warning: skipping {e}");
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    found.sort();
    Ok(found)
}
