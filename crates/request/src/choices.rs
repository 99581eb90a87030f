//! The choices a request names in words: the same words in flags, API fields, Python keywords
//! and the page, parsed here once.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Which method paints the picture.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Gatys et al.'s optimisation on VGG-19: the picture itself is optimised (minutes).
    #[default]
    Gatys,
    /// Ghiasi et al.'s feed-forward network, any painting, one pass (about a second).
    Fast,
}

impl Method {
    /// The word for it.
    pub fn name(self) -> &'static str {
        match self {
            Method::Gatys => "gatys",
            Method::Fast => "fast",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Method {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "gatys" => Ok(Method::Gatys),
            "fast" => Ok(Method::Fast),
            other => Err(format!("method must be gatys or fast, not `{other}`")),
        }
    }
}

/// Where the optimisation starts (the `gatys` method).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Init {
    /// The photo (the default: converges fastest, keeps the composition).
    #[default]
    Content,
    /// Grey with seeded Gaussian noise, as in Gatys et al.
    Noise,
    /// The fast method's picture.
    Fast,
    /// A picture the person gives (a file, an image), resized to the output.
    Image,
}

impl Init {
    /// The word for it (`image` stands for a picture given beside the request).
    pub fn name(self) -> &'static str {
        match self {
            Init::Content => "content",
            Init::Noise => "noise",
            Init::Fast => "fast",
            Init::Image => "image",
        }
    }

    /// `content`, `noise` or `fast`, and neural-style's names for the first two (`image`,
    /// `random`); `None` for any other text, which a front end may read as a picture's name.
    pub fn from_word(text: &str) -> Option<Self> {
        match text {
            "content" | "image" => Some(Init::Content),
            "noise" | "random" => Some(Init::Noise),
            "fast" => Some(Init::Fast),
            _ => None,
        }
    }
}

impl fmt::Display for Init {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Init {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Init::from_word(text)
            .ok_or_else(|| format!("init must be content, noise or fast, not `{text}`"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip_and_others_are_refused() {
        for method in [Method::Gatys, Method::Fast] {
            assert_eq!(method.to_string().parse::<Method>(), Ok(method));
            let json = serde_json::to_string(&method).unwrap();
            assert_eq!(json, format!("\"{method}\""));
        }
        for init in [Init::Content, Init::Noise, Init::Fast] {
            assert_eq!(init.to_string().parse::<Init>(), Ok(init));
        }
        assert_eq!("random".parse::<Init>(), Ok(Init::Noise));
        assert_eq!("image".parse::<Init>(), Ok(Init::Content));
        assert_eq!(
            "instant".parse::<Method>().unwrap_err(),
            "method must be gatys or fast, not `instant`"
        );
        assert!("photo.jpg".parse::<Init>().is_err());
        assert_eq!(Init::from_word("photo.jpg"), None);
    }
}
