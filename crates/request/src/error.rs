//! Why a request cannot be done, in words every front end shows as they are: options are named
//! by their one name (`style_blend_weights`; the flag `--style-blend-weights`, the keyword and
//! the API field `style_blend_weights`).

use restyle::io::ImageFileError;
use restyle::memory::format_bytes;
use restyle::SettingsError;

/// What kind of trouble it is, for a front end to pick its exit code, exception or status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request itself: a value out of range, options that do not go together, a picture
    /// the method cannot use.
    Invalid,
    /// A file that cannot be read or written.
    File,
    /// The run would not fit in memory.
    Memory,
    /// The run itself failed (it diverged, or a network's weights are unusable).
    Failed,
}

/// Why a request cannot be done.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// A value out of range, or options that do not go together.
    #[error("{0}")]
    Invalid(String),
    /// The optimisation's own checks.
    #[error("{}", settings_message(.0))]
    Settings(#[from] SettingsError),
    /// A picture the method cannot use (too small, one flat colour, a blank mask).
    #[error("{0}")]
    Picture(String),
    #[error(transparent)]
    File(#[from] ImageFileError),
    #[error(transparent)]
    Weights(#[from] restyle::WeightsError),
    #[error(transparent)]
    TooBig(#[from] TooBig),
    /// The optimisation produced non-finite values.
    #[error("{0}; try a smaller learning_rate")]
    Diverged(restyle::Error),
    /// The fast networks failed.
    #[error(transparent)]
    Fast(restyle_fast::Error),
}

fn settings_message(error: &SettingsError) -> String {
    match error {
        SettingsError::TooSmall { .. } => {
            format!("{error} (raise size, or style_scale for style images)")
        }
        _ => error.to_string(),
    }
}

impl RequestError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            RequestError::Invalid(_) | RequestError::Settings(_) | RequestError::Picture(_) => {
                ErrorKind::Invalid
            }
            RequestError::File(_) | RequestError::Weights(_) => ErrorKind::File,
            RequestError::TooBig(_) => ErrorKind::Memory,
            RequestError::Diverged(_) => ErrorKind::Failed,
            RequestError::Fast(e) => match e {
                restyle_fast::Error::Weights(_) => ErrorKind::Failed,
                _ => ErrorKind::Invalid,
            },
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        RequestError::Invalid(message.into())
    }
}

impl From<restyle::Error> for RequestError {
    fn from(error: restyle::Error) -> Self {
        match error {
            restyle::Error::Image(e) => RequestError::File(e),
            restyle::Error::Weights(e) => RequestError::Weights(e),
            restyle::Error::Settings(e) => RequestError::Settings(e),
            restyle::Error::Layer(e) => RequestError::Invalid(e.to_string()),
            diverged @ restyle::Error::Diverged { .. } => RequestError::Diverged(diverged),
        }
    }
}

impl From<restyle_fast::Error> for RequestError {
    fn from(error: restyle_fast::Error) -> Self {
        RequestError::Fast(error)
    }
}

/// Where the memory budget comes from, as the refusal names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BudgetSource {
    /// `max_memory`.
    Asked,
    /// What the system has available.
    Machine,
    /// An operator's limit for each job: who sets it ("this server") and with which option.
    Operator { who: String, option: String },
}

/// A run that does not fit: what it needs, the budget, the largest size that fits.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message())]
pub struct TooBig {
    /// The long edge asked for, pixels.
    pub size: usize,
    pub needed: usize,
    pub budget: usize,
    pub allowed_by: BudgetSource,
    /// `None`: not even the smallest size fits.
    pub largest_fitting: Option<usize>,
    /// The tile tried, when the picture was to be made in tiles.
    pub tile: Option<usize>,
}

impl TooBig {
    fn message(&self) -> String {
        let budget = format_bytes(self.budget);
        let source = match &self.allowed_by {
            BudgetSource::Asked => format!("max_memory allows {budget}"),
            BudgetSource::Machine => format!("this machine has {budget} available"),
            BudgetSource::Operator { who, option } => {
                format!("{who} allows {budget} a job ({option})")
            }
        };
        let advice = match (self.tile, self.largest_fitting) {
            (Some(tile), _) => format!("even in tiles of {tile} px; try a smaller tile_size"),
            (None, Some(px)) => {
                format!("at most size {px} fits; use tile to render it larger, in tiles")
            }
            (None, None) => {
                "no size fits with these inputs; send smaller images or lower style_scale".into()
            }
        };
        format!(
            "a {} px picture needs about {} and {source}: {advice}",
            self.size,
            format_bytes(self.needed),
        )
    }
}
