//! Layer lists as people write them: `relu1_1,relu2_1:0.5` (names with
//! optional relative weights, default 1), for the command line's
//! `--style-layers` and the Python package's `style_layers=`.

use restyle_vgg::{Layer, UnknownLayer};

/// Why a layer list could not be read.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum LayerSpecError {
    #[error(transparent)]
    Layer(#[from] UnknownLayer),
    #[error("`{weight}` is not a weight (in `{item}`)")]
    NotAWeight { weight: String, item: String },
    #[error("the weight of {layer} must be a number >= 0, not {weight}")]
    Weight { layer: String, weight: f32 },
}

/// Parses `relu1_1,relu2_1:0.5`: comma-separated names, each optionally
/// `NAME:WEIGHT`; empty items are skipped.
pub fn parse_layers(spec: &str) -> Result<Vec<(Layer, f32)>, LayerSpecError> {
    let mut layers = Vec::new();
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, weight) = match item.split_once(':') {
            Some((n, w)) => {
                let weight: f32 = w.trim().parse().map_err(|_| LayerSpecError::NotAWeight {
                    weight: w.to_string(),
                    item: item.to_string(),
                })?;
                (n.trim(), weight)
            }
            None => (item, 1.0),
        };
        let layer: Layer = name.parse()?;
        if !(weight.is_finite() && weight >= 0.0) {
            return Err(LayerSpecError::Weight {
                layer: name.to_string(),
                weight,
            });
        }
        layers.push((layer, weight));
    }
    Ok(layers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_weights() {
        let layers = parse_layers(" relu1_1, conv4_2:0.25 ,").unwrap();
        let names: Vec<(&str, f32)> = layers.iter().map(|(l, w)| (l.name(), *w)).collect();
        assert_eq!(names, [("relu1_1", 1.0), ("conv4_2", 0.25)]);
        assert_eq!(
            parse_layers("relu1_1:x").unwrap_err().to_string(),
            "`x` is not a weight (in `relu1_1:x`)"
        );
        assert_eq!(
            parse_layers("relu1_1:-1").unwrap_err(),
            LayerSpecError::Weight {
                layer: "relu1_1".into(),
                weight: -1.0
            }
        );
        assert!(matches!(
            parse_layers("relu9_9"),
            Err(LayerSpecError::Layer(_))
        ));
    }
}
