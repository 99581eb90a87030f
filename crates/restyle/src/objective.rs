//! Gatys et al.'s objective for one image size: content loss at some layers,
//! style loss at others, total variation on the pixels, weighted and summed;
//! evaluated with one forward and one backward pass through VGG-19.

use restyle_engine::Tensor;
use restyle_vgg::{Borders, Layer, TapLoss, Vgg19};

use crate::losses::{
    temporal_loss, total_variation, wrapped_total_variation, ContentLoss, GuidedStyleLoss,
    StyleLoss,
};
use crate::progress::Losses;

/// The objective for one output size: targets fixed, pixels free.
pub struct StyleObjective<'n> {
    net: &'n Vgg19,
    /// (layer, weight, loss); weights already include the global weight.
    content: Vec<(Layer, f64, ContentLoss)>,
    style: Vec<(Layer, f64, StyleLoss)>,
    /// Style losses of regions (masks); weights include the region's share.
    guided: Vec<(Layer, f64, GuidedStyleLoss)>,
    tv_weight: f32,
    /// A clip's previous painted frame carried to this one, the flow's reliability and the
    /// term's weight ([`temporal_loss`]).
    temporal: Option<(Tensor, Vec<f32>, f32)>,
    /// What the network and the total variation read beyond the edges.
    borders: Borders,
    /// Every layer a loss reads, in network order, once each.
    taps: Vec<Layer>,
    /// Terms of the latest evaluation.
    latest: Losses,
    evaluations: usize,
}

impl<'n> StyleObjective<'n> {
    pub fn new(
        net: &'n Vgg19,
        content: Vec<(Layer, f64, ContentLoss)>,
        style: Vec<(Layer, f64, StyleLoss)>,
        tv_weight: f32,
    ) -> Self {
        let mut taps: Vec<Layer> = content
            .iter()
            .map(|c| c.0)
            .chain(style.iter().map(|s| s.0))
            .collect();
        taps.sort();
        taps.dedup();
        Self {
            net,
            content,
            style,
            guided: Vec::new(),
            tv_weight,
            temporal: None,
            borders: Borders::Zero,
            taps,
            latest: Losses::default(),
            evaluations: 0,
        }
    }

    /// Adds style losses of regions (see [`GuidedStyleLoss`]), each with its
    /// weight (which includes the region's share of the layer).
    pub fn with_regions(mut self, guided: Vec<(Layer, f64, GuidedStyleLoss)>) -> Self {
        self.taps.extend(guided.iter().map(|g| g.0));
        self.taps.sort();
        self.taps.dedup();
        self.guided = guided;
        self
    }

    /// Adds the temporal term: `weight` times [`temporal_loss`] towards `carried`.
    pub fn with_temporal(mut self, carried: Tensor, reliability: Vec<f32>, weight: f32) -> Self {
        self.temporal = Some((carried, reliability, weight));
        self
    }

    /// Reads `borders` beyond the image's edges, in the network and in the
    /// total variation ([`Borders::Wrap`]: the result tiles without seams).
    pub fn with_borders(mut self, borders: Borders) -> Self {
        self.borders = borders;
        self
    }

    /// The terms at the latest evaluation.
    pub fn latest(&self) -> Losses {
        self.latest
    }

    pub fn evaluations(&self) -> usize {
        self.evaluations
    }

    /// Value and gradient with respect to the pixels (3 x H x W, RGB 0..1).
    pub fn evaluate(&mut self, pixels: &Tensor) -> (Losses, Tensor) {
        let mut terms = Terms {
            objective: self,
            content: 0.0,
            style: 0.0,
        };
        let (_, mut grad) =
            self.net
                .value_and_grad_of(pixels, &self.taps, self.borders, &mut terms);
        let (content, style) = (terms.content, terms.style);
        let tv = if self.tv_weight > 0.0 {
            let tv = match self.borders {
                Borders::Zero => total_variation,
                Borders::Wrap => wrapped_total_variation,
            };
            self.tv_weight as f64 * tv(pixels, self.tv_weight, &mut grad)
        } else {
            0.0
        };
        let temporal = match &self.temporal {
            Some((carried, reliability, weight)) if *weight > 0.0 => {
                *weight as f64 * temporal_loss(pixels, carried, reliability, *weight, &mut grad)
            }
            _ => 0.0,
        };
        self.latest = Losses {
            content,
            style,
            tv,
            temporal,
        };
        self.evaluations += 1;
        (self.latest, grad)
    }
}

/// The loss terms at the taps of one evaluation, each adding its weighted
/// gradient into the one flowing back through the network: no tensor as
/// large as the layer is made for a loss's gradient, nor added in a pass
/// of its own (at relu1_1, 50 MB at 512 px).
struct Terms<'o, 'n> {
    objective: &'o StyleObjective<'n>,
    content: f64,
    style: f64,
}

impl TapLoss for Terms<'_, '_> {
    fn add_gradient(&mut self, layer: Layer, features: &Tensor, grad: &mut Tensor) -> f64 {
        let o = self.objective;
        let mut total = 0.0;
        for (_, weight, loss) in o.content.iter().filter(|c| c.0 == layer) {
            let value = *weight * loss.add_weighted_grad(features, *weight as f32, grad);
            self.content += value;
            total += value;
        }
        for (_, weight, loss) in o.style.iter().filter(|s| s.0 == layer) {
            let value = *weight * loss.add_weighted_grad(features, *weight as f32, grad);
            self.style += value;
            total += value;
        }
        for (_, weight, loss) in o.guided.iter().filter(|s| s.0 == layer) {
            let value = *weight * loss.add_weighted_grad(features, *weight as f32, grad);
            self.style += value;
            total += value;
        }
        total
    }
}
