//! PyTorch state dicts saved by `torch.save` (1.6 and later): a zip archive
//! holding `<name>/data.pkl`, the pickled dict whose tensors name their
//! storages by key, and `<name>/data/<key>`, each storage's raw
//! little-endian bytes.
//!
//! Only the storages of the tensors VGG-19 needs are read: a full
//! torchvision VGG-19 file is 548 MB, of which the classifier, ignored
//! here, is 470 MB.

use std::borrow::Cow;
use std::io::{Read, Seek};

use zip::ZipArchive;

use super::pickle::{self, StorageRef};
use super::state_dict::{self, pickle_error, StateDict, Storages};
use crate::weights::{VggWeights, WeightsError};

/// No state dict's pickle is anywhere near this big; it holds names and
/// shapes, not data.
const MAX_PICKLE_BYTES: u64 = 64 << 20;

/// Nor is any storage a VGG-19 tensor views.
const MAX_STORAGE_BYTES: u64 = 4 << 30;

/// VGG-19's weights from a `torch.save` zip archive, in memory
/// (`Cursor<&[u8]>`) or in a file.
pub(crate) fn load<R: Read + Seek>(reader: R, what: &str) -> Result<VggWeights, WeightsError> {
    let corrupt = |reason: String| WeightsError::Corrupt {
        what: what.to_string(),
        reason,
    };
    let mut archive = ZipArchive::new(reader)
        .map_err(|e| corrupt(format!("it is not a complete zip archive ({e})")))?;
    let prefix = archive_prefix(&archive).ok_or_else(|| WeightsError::NotVgg19 {
        what: what.to_string(),
        reason: "it is a zip archive but not one torch.save wrote (it has no `data.pkl`)".into(),
    })?;
    if is_big_endian(&mut archive, &prefix) {
        return Err(WeightsError::NotVgg19 {
            what: what.to_string(),
            reason: "it was saved on a big-endian machine, whose files restyle does not read"
                .into(),
        });
    }
    let pickle_name = format!("{prefix}data.pkl");
    let pickle_bytes =
        read_entry(&mut archive, &pickle_name, None, MAX_PICKLE_BYTES).map_err(corrupt)?;
    let unpickled = pickle::load(&pickle_bytes)
        .map_err(|e| pickle_error(e, &format!("`{pickle_name}`"), what))?;
    let dict = StateDict::from_pickle(&unpickled).map_err(|reason| WeightsError::NotVgg19 {
        what: what.to_string(),
        reason,
    })?;
    state_dict::vgg_weights(&dict, &mut ZipStorages { archive, prefix }, what)
}

/// The folder `data.pkl` is in, with its slash (`archive/`), or `""` if it
/// is at the top. torch.save names the folder after the file.
fn archive_prefix<R: Read + Seek>(archive: &ZipArchive<R>) -> Option<String> {
    archive
        .file_names()
        .filter_map(Result::ok)
        .find_map(|name| {
            let prefix = name.strip_suffix("data.pkl")?;
            let folder_ok =
                prefix.is_empty() || (prefix.ends_with('/') && prefix.matches('/').count() == 1);
            folder_ok.then(|| prefix.to_string())
        })
}

/// torch writes `byteorder` (`little` or `big`) beside the pickle; files
/// from before it did are little-endian.
fn is_big_endian<R: Read + Seek>(archive: &mut ZipArchive<R>, prefix: &str) -> bool {
    read_entry(archive, &format!("{prefix}byteorder"), None, 16).is_ok_and(|order| order == b"big")
}

/// An entry's bytes: exactly `expected` of them if given, at most `limit`.
/// Reading up to the end of the entry lets the zip reader check its CRC.
fn read_entry<R: Read + Seek>(
    archive: &mut ZipArchive<R>,
    name: &str,
    expected: Option<u64>,
    limit: u64,
) -> Result<Vec<u8>, String> {
    let mut file = archive
        .by_name(name)
        .map_err(|e| format!("cannot open `{name}` in it ({e})"))?;
    let size = file.size();
    if expected.is_some_and(|n| n != size) || size > limit {
        let wanted = expected.map_or(format!("at most {limit}"), |n| n.to_string());
        return Err(format!(
            "`{name}` holds {size} bytes where {wanted} were expected"
        ));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    (&mut file)
        .take(size.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read `{name}` ({e})"))?;
    if bytes.len() as u64 != size {
        return Err(format!(
            "`{name}` ends after {} of its {size} bytes",
            bytes.len()
        ));
    }
    Ok(bytes)
}

/// Storages are the entries `<prefix>data/<key>`.
struct ZipStorages<R> {
    archive: ZipArchive<R>,
    prefix: String,
}

impl<'a, R: Read + Seek> Storages<'a> for ZipStorages<R> {
    fn bytes(&mut self, storage: &StorageRef) -> Result<Cow<'a, [u8]>, String> {
        let name = format!("{}data/{}", self.prefix, storage.key);
        let expected = (storage.numel as u64).checked_mul(storage.dtype.size() as u64);
        let expected = expected
            .filter(|&n| n <= MAX_STORAGE_BYTES)
            .ok_or_else(|| {
                format!(
                    "its storage `{name}` claims {} elements, more than restyle will read",
                    storage.numel
                )
            })?;
        read_entry(&mut self.archive, &name, Some(expected), MAX_STORAGE_BYTES).map(Cow::Owned)
    }
}
