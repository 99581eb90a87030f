//! The README's library example: paints a photo in the style of a painting,
//! reporting each step on standard error.
//!
//! ```sh
//! cargo run --release -p restyle --example stylize -- \
//!     examples/images/content/chelsea.png examples/images/style/starry_night.jpg out.png
//! ```

use std::path::Path;

use restyle::{io, stylize, Flow, Progress, Settings, StyleImage, Vgg19};

fn main() -> Result<(), restyle::Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [photo, painting, out] = args.as_slice() else {
        eprintln!("usage: stylize PHOTO PAINTING OUT.png");
        std::process::exit(2);
    };
    let limits = io::ImageLimits::default();
    let content = io::load_image(Path::new(photo), limits)?;
    let style = StyleImage::new(io::load_image(Path::new(painting), limits)?, 1.0);
    let settings = Settings {
        size: 384,
        ..Settings::default()
    };
    let net = Vgg19::embedded_up_to(settings.deepest_layer().unwrap());
    let mut report = |p: &Progress<'_>| {
        eprintln!(
            "step {}/{}: loss {:.3}",
            p.step,
            p.total_steps,
            p.losses.total()
        );
        Flow::Continue
    };
    let outcome = stylize(&net, &content, &[style], &settings, &mut report)?;
    io::save_image(&outcome.image, Path::new(out))?;
    Ok(())
}
