//! The run: a checked plan and its pictures in, the picture out, by either method.

use std::path::Path;
use std::time::{Duration, Instant};

use restyle::{
    Image, Layer, Losses, Mask, MaskOf, Observer, SettingsError, StyleImage, Vgg19, VggWeights,
};
use restyle_fast::FastStyle;

use crate::choices::{Init, Method};
use crate::error::RequestError;
use crate::memory::Inputs;
use crate::plan::Plan;

/// The pictures a request names, loaded.
#[derive(Clone, Debug)]
pub struct Pictures {
    /// The photo.
    pub content: Image,
    /// The paintings with their shares and masks (see [`Pictures::new`]).
    pub styles: Vec<StyleImage>,
    /// The part of the photo kept as it is.
    pub keep: Option<Mask>,
    /// The picture the optimisation starts from, for [`Init::Image`].
    pub init: Option<Image>,
}

impl Pictures {
    /// The photo and the paintings, each with its share from `plan` (the masks, the part kept
    /// and the starting picture can be set afterwards).
    pub fn new(plan: &Plan, content: Image, paintings: Vec<Image>) -> Self {
        let styles = paintings
            .into_iter()
            .zip(&plan.blend)
            .map(|(image, &weight)| StyleImage::new(image, weight))
            .collect();
        Self {
            content,
            styles,
            keep: None,
            init: None,
        }
    }

    /// Their sizes, for [`Plan::fit`].
    pub fn inputs(&self) -> Inputs {
        let dims = |i: &Image| (i.width(), i.height());
        let masks = self
            .styles
            .iter()
            .flat_map(|s| s.mask.iter().chain(&s.style_mask))
            .chain(&self.keep)
            .map(|m| (m.width(), m.height()))
            .collect();
        Inputs {
            content: dims(&self.content),
            styles: self.styles.iter().map(|s| dims(&s.image)).collect(),
            masks,
            init: self.init.as_ref().map(dims),
        }
    }
}

/// What a run made.
#[derive(Clone, Debug)]
pub struct Painted {
    pub image: Image,
    /// Optimisation steps taken (0 for the fast method).
    pub steps: usize,
    /// The observer stopped the run (the picture is the one so far).
    pub stopped: bool,
    /// The optimisation's final losses (`None` for the fast method).
    pub losses: Option<Losses>,
    /// The time the fast networks took (zero for an optimisation from another start).
    pub network: Duration,
}

impl Plan {
    /// Refuses pictures the method cannot use: a blank mask, a painting the style network
    /// cannot read a style from (one flat colour).
    pub fn check_pictures(&self, pictures: &Pictures) -> Result<(), RequestError> {
        for (i, style) in pictures.styles.iter().enumerate() {
            if style.mask.as_ref().is_some_and(Mask::is_blank) {
                return Err(SettingsError::BlankMask(MaskOf::Region(i + 1)).into());
            }
            if style.style_mask.as_ref().is_some_and(Mask::is_blank) {
                return Err(SettingsError::BlankMask(MaskOf::Style(i + 1)).into());
            }
        }
        if pictures.keep.as_ref().is_some_and(Mask::is_blank) {
            return Err(SettingsError::BlankMask(MaskOf::Keep).into());
        }
        if self.wants_fast_picture() {
            for (i, style) in pictures.styles.iter().enumerate() {
                check_painting(i + 1, &style.image)?;
            }
        }
        if self.init == Init::Image && pictures.init.is_none() {
            return Err(RequestError::invalid(
                "init image: no starting picture was given",
            ));
        }
        Ok(())
    }

    /// The fast picture of `pictures` at `size` (the plan's colours, strength, regions and
    /// tiles), as the result of a fast run.
    pub fn paint_fast(
        &self,
        model: &FastStyle,
        pictures: &Pictures,
    ) -> Result<Painted, RequestError> {
        let photo = &pictures.content;
        let painted = restyle_fast::paint_regions(
            photo,
            &pictures.styles,
            pictures.keep.as_ref(),
            |styles| {
                restyle_fast::paint(
                    model,
                    photo,
                    self.size,
                    styles,
                    self.strength,
                    self.color,
                    self.fast_tiling.as_ref(),
                )
            },
        )?;
        Ok(Painted {
            image: painted.image,
            steps: 0,
            stopped: false,
            losses: None,
            network: painted.network,
        })
    }

    /// The fast picture an optimisation starts from (`init` fast): the painting's colours,
    /// full strength, the whole picture (the regions are the optimisation's to paint).
    pub fn starting_picture(
        &self,
        model: &FastStyle,
        pictures: &Pictures,
    ) -> Result<Image, RequestError> {
        let plain: Vec<StyleImage> = pictures
            .styles
            .iter()
            .map(|s| StyleImage::new(s.image.clone(), s.weight))
            .collect();
        let painted = restyle_fast::paint(
            model,
            &pictures.content,
            self.settings.size,
            &plain,
            1.0,
            restyle::ColorMode::None,
            None,
        )?;
        Ok(painted.image)
    }

    /// The VGG-19 network the optimisation reads, up to its deepest layer: the embedded
    /// weights, or `vgg_weights`.
    pub fn network(&self) -> Result<Vgg19, RequestError> {
        load_network(self.vgg_weights.as_deref(), self.deepest_layer())
    }

    /// Paints `pictures` as planned. The optimisation tells `observer` of every step and stops
    /// when it says so; `net` is [`Plan::network`] (`None`: loaded here).
    pub fn paint(
        &self,
        pictures: &Pictures,
        net: Option<&Vgg19>,
        observer: &mut dyn Observer,
    ) -> Result<Painted, RequestError> {
        self.check_pictures(pictures)?;
        if self.method == Method::Fast {
            return self.paint_fast(&FastStyle::embedded()?, pictures);
        }
        let started = Instant::now();
        let mut settings = self.settings.clone();
        settings.keep = pictures.keep.clone();
        let mut network = Duration::ZERO;
        match self.init {
            Init::Fast => {
                settings.init =
                    restyle::Init::Image(self.starting_picture(&FastStyle::embedded()?, pictures)?);
                network = started.elapsed();
            }
            Init::Image => {
                let image = pictures
                    .init
                    .clone()
                    .expect("checked: a starting picture is given");
                settings.init = restyle::Init::Image(image);
            }
            Init::Content | Init::Noise => {}
        }
        let loaded;
        let net = match net {
            Some(net) => net,
            None => {
                loaded = self.network()?;
                &loaded
            }
        };
        let outcome = restyle::stylize(
            net,
            &pictures.content,
            &pictures.styles,
            &settings,
            observer,
        )?;
        Ok(Painted {
            image: outcome.image,
            steps: outcome.steps,
            stopped: outcome.stopped,
            losses: Some(outcome.losses),
            network,
        })
    }
}

/// VGG-19 up to `deepest`: the embedded weights, or those in the file `vgg_weights`.
pub fn load_network(vgg_weights: Option<&Path>, deepest: Layer) -> Result<Vgg19, RequestError> {
    Ok(match vgg_weights {
        Some(path) => Vgg19::new(VggWeights::from_file(path)?.truncated(deepest)),
        None => Vgg19::embedded_up_to(deepest),
    })
}

/// Refuses painting `number` (from 1) if the style network cannot read a style from it (too
/// small, one flat colour), naming it by its place in the list.
pub fn check_painting(number: usize, image: &Image) -> Result<(), RequestError> {
    restyle_fast::check_style(image).map_err(|e| unusable_painting(number, e))
}

/// A painting the style network cannot read, named by its place in the list.
fn unusable_painting(number: usize, error: restyle_fast::Error) -> RequestError {
    match error {
        restyle_fast::Error::StyleTooSmall { width, height, min } => RequestError::Picture(format!(
            "style image {number} is {width}x{height}: the fast method needs at least {min}x{min} pixels"
        )),
        restyle_fast::Error::StyleFlat => RequestError::Picture(format!(
            "style image {number} is one flat colour: it has no style to transfer"
        )),
        other => other.into(),
    }
}
