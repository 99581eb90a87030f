//! PyTorch state dicts (`torch.save` zip archives), such as torchvision's VGG-19.

use crate::weights::{VggWeights, WeightsError};

pub(crate) fn load(_bytes: &[u8], what: &str) -> Result<VggWeights, WeightsError> {
    Err(WeightsError::UnknownFormat { what: format!("{what} (PyTorch zip: not supported yet)") })
}
