//! VGG-19's layers by their usual names: `conv1_1` .. `conv5_4`,
//! `relu1_1` .. `relu5_4` and `pool1` .. `pool5`.

use std::fmt;
use std::str::FromStr;

/// Convolutions per block.
pub(crate) const BLOCKS: [usize; 5] = [2, 2, 4, 4, 4];

/// Output channels of each block's convolutions.
pub(crate) const BLOCK_CHANNELS: [usize; 5] = [64, 128, 256, 512, 512];

/// What a layer does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// The `n`th 3x3 convolution of the network (0..16).
    Conv(usize),
    Relu,
    /// 2x2 max pooling, stride 2.
    Pool,
}

/// One of the 37 layers of VGG-19's convolutional part, in network order.
///
/// Activations "at a layer" are that layer's output: at `conv4_2` before its
/// ReLU, at `relu4_2` after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Layer(u8);

struct LayerInfo {
    name: String,
    op: Op,
    block: usize,
}

fn table() -> &'static [LayerInfo] {
    static TABLE: std::sync::OnceLock<Vec<LayerInfo>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let mut layers = Vec::new();
        let mut conv = 0;
        for (b, &convs) in BLOCKS.iter().enumerate() {
            for i in 1..=convs {
                layers.push(LayerInfo {
                    name: format!("conv{}_{i}", b + 1),
                    op: Op::Conv(conv),
                    block: b,
                });
                layers.push(LayerInfo {
                    name: format!("relu{}_{i}", b + 1),
                    op: Op::Relu,
                    block: b,
                });
                conv += 1;
            }
            layers.push(LayerInfo {
                name: format!("pool{}", b + 1),
                op: Op::Pool,
                block: b,
            });
        }
        layers
    })
}

impl Layer {
    /// Number of layers.
    pub const COUNT: usize = 37;

    /// Every layer, input side first.
    pub fn all() -> impl Iterator<Item = Layer> {
        (0..Self::COUNT as u8).map(Layer)
    }

    /// Looks a layer up by name (`"conv4_2"`, `"relu1_1"`, `"pool3"`).
    pub fn from_name(name: &str) -> Result<Layer, UnknownLayer> {
        table()
            .iter()
            .position(|l| l.name == name)
            .map(|i| Layer(i as u8))
            .ok_or_else(|| UnknownLayer(name.to_string()))
    }

    /// Position in the network, 0 for `conv1_1`.
    pub fn index(self) -> usize {
        self.0 as usize
    }

    pub fn name(self) -> &'static str {
        &table()[self.index()].name
    }

    pub fn op(self) -> Op {
        table()[self.index()].op
    }

    /// Block number, 1..=5.
    pub fn block(self) -> usize {
        table()[self.index()].block + 1
    }

    /// Channels of this layer's output.
    pub fn channels(self) -> usize {
        BLOCK_CHANNELS[table()[self.index()].block]
    }

    /// Height and width of this layer's output for an `height x width` input
    /// (each pooling halves them, rounding down).
    pub fn output_size(self, height: usize, width: usize) -> (usize, usize) {
        let pools = Layer::all()
            .take(self.index() + 1)
            .filter(|l| l.op() == Op::Pool)
            .count();
        (height >> pools, width >> pools)
    }

    /// The first ReLU of a block (`relu1_1` .. `relu5_1`): the usual style layers.
    pub fn first_relu_of_block(block: usize) -> Layer {
        Layer::from_name(&format!("relu{block}_1")).expect("blocks are 1..=5")
    }
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Layer {
    type Err = UnknownLayer;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Layer::from_name(s.trim())
    }
}

/// A layer name VGG-19 does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown layer `{0}`: VGG-19's layers are conv1_1..conv5_4, relu1_1..relu5_4 and pool1..pool5 (blocks 1-2 have two convolutions, blocks 3-5 four)")]
pub struct UnknownLayer(pub String);

/// How many convolutions the layers up to `last` contain.
pub(crate) fn convs_up_to(last: Layer) -> usize {
    Layer::all()
        .take(last.index() + 1)
        .filter(|l| matches!(l.op(), Op::Conv(_)))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_follow_the_network_order() {
        let names: Vec<_> = Layer::all().map(|l| l.name()).collect();
        assert_eq!(names.len(), 37);
        assert_eq!(
            &names[..5],
            &["conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1"]
        );
        assert_eq!(names[36], "pool5");
        for l in Layer::all() {
            assert_eq!(Layer::from_name(l.name()), Ok(l));
        }
        assert_eq!(Layer::from_name("conv4_2").unwrap().op(), Op::Conv(9));
    }

    #[test]
    fn unknown_names_are_refused() {
        for bad in ["conv1_3", "relu6_1", "pool0", "", "CONV1_1"] {
            assert!(Layer::from_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn output_sizes_halve_after_each_pool() {
        let l = |n| Layer::from_name(n).unwrap();
        assert_eq!(l("relu1_1").output_size(37, 50), (37, 50));
        assert_eq!(l("pool1").output_size(37, 50), (18, 25));
        assert_eq!(l("relu5_1").output_size(37, 50), (2, 3));
        assert_eq!(l("relu5_1").channels(), 512);
    }
}
