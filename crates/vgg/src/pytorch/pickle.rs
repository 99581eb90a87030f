//! A restricted pickle reader for the files `torch.save` writes.
//!
//! Why hand-written: a `.pth` file's tensors are pickled as persistent ids
//! (`BINPERSID`) naming storages stored beside the pickle, and serde-pickle,
//! the ecosystem's pickle crate, does not support persistent ids; candle has
//! a reader, but it comes with a whole tensor library. What a state dict
//! needs is small: about forty opcodes and five globals.
//!
//! Why it is safe on hostile input: no global is ever executed. `GLOBAL` and
//! `STACK_GLOBAL` are checked against an allow-list of the few names a state
//! dict of plain tensors uses (`collections.OrderedDict`, torch's tensor
//! rebuild functions and storage types), and the allowed ones are
//! interpreted here, by this module, as data. Anything else (`os.system`,
//! a pickled `nn.Module`, ...) is refused by name. Lengths are checked
//! against the bytes left before anything is allocated, stack underflows and
//! memo misses are errors, the number of opcodes run (and so the memory
//! used) is bounded, and nothing recurses: lists, dicts and tuples
//! live in a flat arena and refer to one another by index, so arbitrarily
//! deep nesting (or even a list that contains itself) cannot overflow the
//! stack, and fetching from the memo never copies a container.

use std::collections::HashMap;
use std::rc::Rc;

/// The element types of torch storages restyle can meet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dtype {
    F64,
    F32,
    F16,
    BF16,
    I64,
    I32,
    I16,
    I8,
    U8,
    Bool,
}

impl Dtype {
    /// The dtype of torch's `<name>Storage` class, if it is one.
    fn of_storage_class(name: &str) -> Option<Dtype> {
        Some(match name.strip_suffix("Storage")? {
            "Double" => Dtype::F64,
            "Float" => Dtype::F32,
            "Half" => Dtype::F16,
            "BFloat16" => Dtype::BF16,
            "Long" => Dtype::I64,
            "Int" => Dtype::I32,
            "Short" => Dtype::I16,
            "Char" => Dtype::I8,
            "Byte" => Dtype::U8,
            "Bool" => Dtype::Bool,
            _ => return None,
        })
    }

    /// Bytes per element.
    pub(crate) fn size(self) -> usize {
        match self {
            Dtype::F64 | Dtype::I64 => 8,
            Dtype::F32 | Dtype::I32 => 4,
            Dtype::F16 | Dtype::BF16 | Dtype::I16 => 2,
            Dtype::I8 | Dtype::U8 | Dtype::Bool => 1,
        }
    }

    /// torch's name for it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Dtype::F64 => "float64",
            Dtype::F32 => "float32",
            Dtype::F16 => "float16",
            Dtype::BF16 => "bfloat16",
            Dtype::I64 => "int64",
            Dtype::I32 => "int32",
            Dtype::I16 => "int16",
            Dtype::I8 => "int8",
            Dtype::U8 => "uint8",
            Dtype::Bool => "bool",
        }
    }
}

/// A storage a pickle refers to by persistent id
/// `('storage', StorageType, key, location, numel[, view])`: its bytes are
/// elsewhere in the file, under `key`.
#[derive(Debug)]
pub(crate) struct StorageRef {
    pub key: String,
    pub dtype: Dtype,
    /// Elements of the whole storage `key`.
    pub numel: usize,
    /// Where the part tensors see starts (non-zero only for the storage
    /// views of torch 0.3 and earlier), and how many elements it has.
    pub view_start: usize,
    pub view_len: usize,
}

/// A tensor as `torch._utils._rebuild_tensor_v2` describes it: a strided
/// view of a storage, in elements.
#[derive(Debug)]
pub(crate) struct TensorRef {
    pub storage: Rc<StorageRef>,
    pub offset: usize,
    pub size: Vec<usize>,
    pub stride: Vec<usize>,
}

/// The globals a state dict may use; all others are refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Global {
    OrderedDict,
    /// `_rebuild_tensor(storage, offset, size, stride)` (torch 0.3 and
    /// earlier) and `_rebuild_tensor_v2(..., requires_grad, hooks[, metadata])`.
    RebuildTensor,
    /// `_rebuild_parameter(tensor, requires_grad, hooks[, state])`: the tensor.
    RebuildParameter,
    StorageType(Dtype),
}

/// Looks `module.name` up in the allow-list.
fn resolve_global(module: &str, name: &str) -> Result<Global, PickleError> {
    match (module, name) {
        ("collections", "OrderedDict") => Ok(Global::OrderedDict),
        ("torch._utils", "_rebuild_tensor" | "_rebuild_tensor_v2") => Ok(Global::RebuildTensor),
        ("torch._utils", "_rebuild_parameter" | "_rebuild_parameter_with_state") => {
            Ok(Global::RebuildParameter)
        }
        ("torch" | "torch.cuda", _) => match Dtype::of_storage_class(name) {
            Some(dtype) => Ok(Global::StorageType(dtype)),
            None => Err(PickleError::Refused(format!("{module}.{name}"))),
        },
        _ => Err(PickleError::Refused(format!("{module}.{name}"))),
    }
}

/// Index of a list, tuple or dict in [`Heap`].
pub(crate) type ObjId = usize;

/// A pickled value. Containers are indices into the [`Heap`], so copying a
/// value never copies a container.
#[derive(Clone, Debug)]
pub(crate) enum Value {
    None,
    Bool(bool),
    Int(i64),
    /// Integers too wide for `i64` (LONG1 up to 16 bytes), such as the
    /// legacy format's magic number.
    BigInt(i128),
    // Floats and bytes are parsed but nothing in a state dict that restyle
    // uses holds them; only the tests look inside.
    #[cfg_attr(not(test), allow(dead_code))]
    Float(f64),
    Str(Rc<str>),
    #[cfg_attr(not(test), allow(dead_code))]
    Bytes(Rc<[u8]>),
    Tuple(ObjId),
    List(ObjId),
    Dict(ObjId),
    Global(Global),
    Storage(Rc<StorageRef>),
    Tensor(Rc<TensorRef>),
}

impl Value {
    /// What kind of value this is, for error messages.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Value::None => "None",
            Value::Bool(_) => "bool",
            Value::Int(_) | Value::BigInt(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::Bytes(_) => "bytes",
            Value::Tuple(_) => "tuple",
            Value::List(_) => "list",
            Value::Dict(_) => "dict",
            Value::Global(_) => "global",
            Value::Storage(_) => "storage",
            Value::Tensor(_) => "tensor",
        }
    }
}

/// Where the containers live.
#[derive(Debug, Default)]
pub(crate) struct Heap {
    objects: Vec<Object>,
}

#[derive(Debug)]
enum Object {
    /// A tuple or a list.
    Seq(Vec<Value>),
    /// A dict, in insertion order; a key set twice appears twice (readers
    /// keep the last, as Python would).
    Map(Vec<(Value, Value)>),
}

impl Heap {
    fn add(&mut self, object: Object) -> ObjId {
        self.objects.push(object);
        self.objects.len() - 1
    }

    /// The items of a tuple or list.
    pub(crate) fn items(&self, id: ObjId) -> &[Value] {
        match self.objects.get(id) {
            Some(Object::Seq(items)) => items,
            _ => &[],
        }
    }

    /// The entries of a dict.
    pub(crate) fn entries(&self, id: ObjId) -> &[(Value, Value)] {
        match self.objects.get(id) {
            Some(Object::Map(entries)) => entries,
            _ => &[],
        }
    }

    /// The items of a tuple or list value.
    fn seq_of<'h>(&'h self, value: &Value) -> Option<&'h [Value]> {
        match value {
            Value::Tuple(id) | Value::List(id) => Some(self.items(*id)),
            _ => None,
        }
    }
}

/// One unpickled object and the heap its containers live in.
#[derive(Debug)]
pub(crate) struct Unpickled {
    pub value: Value,
    pub heap: Heap,
    /// Bytes the pickle took, up to and including its STOP.
    pub len: usize,
    /// Every storage its persistent ids named, in order.
    pub storages: Vec<Rc<StorageRef>>,
}

/// Why a pickle could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PickleError {
    #[error("its pickle ends early (at byte {at})")]
    Truncated { at: usize },
    #[error("its pickle has opcode 0x{op:02x} at byte {at}, which torch.save does not write")]
    UnknownOpcode { op: u8, at: usize },
    #[error("restyle refuses to load `{0}`: it reads state dicts of plain tensors and runs no code from files (for a whole pickled model, save `model.state_dict()` instead)")]
    Refused(String),
    #[error("its pickle is malformed at byte {at}: {reason}")]
    Malformed { at: usize, reason: String },
}

/// Reads one pickle from the start of `data` (which may go on past it).
pub(crate) fn load(data: &[u8]) -> Result<Unpickled, PickleError> {
    let mut machine = Machine {
        data,
        pos: 0,
        at: 0,
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
        heap: Heap::default(),
        storages: Vec::new(),
    };
    let value = machine.run()?;
    Ok(Unpickled {
        value,
        heap: machine.heap,
        len: machine.pos,
        storages: machine.storages,
    })
}

/// Each opcode makes at most one value, so this bounds the memory a pickle
/// can make the machine use (to about a gigabyte); a state dict of a
/// thousand tensors takes about a hundred thousand.
const MAX_OPS: usize = 1 << 24;

/// The pickle virtual machine's state.
struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    /// Where the opcode being run starts, for errors.
    at: usize,
    stack: Vec<Value>,
    /// Stack lengths at each MARK.
    marks: Vec<usize>,
    memo: HashMap<u32, Value>,
    heap: Heap,
    storages: Vec<Rc<StorageRef>>,
}

mod op {
    pub const MARK: u8 = b'(';
    pub const STOP: u8 = b'.';
    pub const POP: u8 = b'0';
    pub const POP_MARK: u8 = b'1';
    pub const DUP: u8 = b'2';
    pub const BININT: u8 = b'J';
    pub const BININT1: u8 = b'K';
    pub const BININT2: u8 = b'M';
    pub const LONG1: u8 = 0x8a;
    pub const NONE: u8 = b'N';
    pub const NEWTRUE: u8 = 0x88;
    pub const NEWFALSE: u8 = 0x89;
    pub const BINFLOAT: u8 = b'G';
    pub const BINSTRING: u8 = b'T';
    pub const SHORT_BINSTRING: u8 = b'U';
    pub const BINUNICODE: u8 = b'X';
    pub const SHORT_BINUNICODE: u8 = 0x8c;
    pub const BINUNICODE8: u8 = 0x8d;
    pub const BINBYTES: u8 = b'B';
    pub const SHORT_BINBYTES: u8 = b'C';
    pub const BINBYTES8: u8 = 0x8e;
    pub const BYTEARRAY8: u8 = 0x96;
    pub const EMPTY_DICT: u8 = b'}';
    pub const EMPTY_LIST: u8 = b']';
    pub const EMPTY_TUPLE: u8 = b')';
    pub const TUPLE: u8 = b't';
    pub const TUPLE1: u8 = 0x85;
    pub const TUPLE2: u8 = 0x86;
    pub const TUPLE3: u8 = 0x87;
    pub const LIST: u8 = b'l';
    pub const DICT: u8 = b'd';
    pub const APPEND: u8 = b'a';
    pub const APPENDS: u8 = b'e';
    pub const SETITEM: u8 = b's';
    pub const SETITEMS: u8 = b'u';
    pub const GLOBAL: u8 = b'c';
    pub const STACK_GLOBAL: u8 = 0x93;
    pub const REDUCE: u8 = b'R';
    pub const BUILD: u8 = b'b';
    pub const NEWOBJ: u8 = 0x81;
    pub const NEWOBJ_EX: u8 = 0x92;
    pub const BINPUT: u8 = b'q';
    pub const LONG_BINPUT: u8 = b'r';
    pub const MEMOIZE: u8 = 0x94;
    pub const BINGET: u8 = b'h';
    pub const LONG_BINGET: u8 = b'j';
    pub const BINPERSID: u8 = b'Q';
    pub const PROTO: u8 = 0x80;
    pub const FRAME: u8 = 0x95;
}

impl<'a> Machine<'a> {
    fn run(&mut self) -> Result<Value, PickleError> {
        for _ in 0..MAX_OPS {
            self.at = self.pos;
            let opcode = self.read_u8()?;
            if opcode == op::STOP {
                return self.pop();
            }
            self.step(opcode)?;
        }
        Err(self.malformed(format!(
            "it goes on for more than {MAX_OPS} operations, far more than a state dict needs"
        )))
    }

    fn step(&mut self, opcode: u8) -> Result<(), PickleError> {
        match opcode {
            op::PROTO => {
                let version = self.read_u8()?;
                if version > 5 {
                    return Err(
                        self.malformed(format!("pickle protocol {version} does not exist (yet)"))
                    );
                }
            }
            // Frames only group opcodes for buffered reading.
            op::FRAME => {
                let len = self.read_u64()?;
                if len > (self.data.len() - self.pos) as u64 {
                    return Err(PickleError::Truncated { at: self.at });
                }
            }
            op::MARK => self.marks.push(self.stack.len()),
            op::POP => {
                if self.stack.len() > self.mark_floor() {
                    self.pop()?;
                } else {
                    self.pop_mark()?;
                }
            }
            op::POP_MARK => {
                self.pop_mark()?;
            }
            op::DUP => {
                let top = self.top()?.clone();
                self.stack.push(top);
            }
            op::NONE => self.stack.push(Value::None),
            op::NEWTRUE => self.stack.push(Value::Bool(true)),
            op::NEWFALSE => self.stack.push(Value::Bool(false)),
            op::BININT => {
                let v = i32::from_le_bytes(self.read_array()?);
                self.stack.push(Value::Int(v.into()));
            }
            op::BININT1 => {
                let v = self.read_u8()?;
                self.stack.push(Value::Int(v.into()));
            }
            op::BININT2 => {
                let v = u16::from_le_bytes(self.read_array()?);
                self.stack.push(Value::Int(v.into()));
            }
            op::LONG1 => {
                let n = self.read_u8()? as usize;
                let bytes = self.read_bytes(n)?;
                let v = self.long(bytes)?;
                self.stack.push(v);
            }
            op::BINFLOAT => {
                let v = f64::from_be_bytes(self.read_array()?);
                self.stack.push(Value::Float(v));
            }
            op::SHORT_BINUNICODE => self.push_str(1)?,
            op::BINUNICODE => self.push_str(4)?,
            op::BINUNICODE8 => self.push_str(8)?,
            // Python 2 `str`s: text if it decodes, bytes otherwise.
            op::SHORT_BINSTRING | op::BINSTRING => {
                let bytes = if opcode == op::SHORT_BINSTRING {
                    self.read_counted(1)?
                } else {
                    self.read_counted(4)?
                };
                let value = match std::str::from_utf8(bytes) {
                    Ok(text) => Value::Str(text.into()),
                    Err(_) => Value::Bytes(bytes.into()),
                };
                self.stack.push(value);
            }
            op::SHORT_BINBYTES => self.push_bytes(1)?,
            op::BINBYTES => self.push_bytes(4)?,
            op::BINBYTES8 | op::BYTEARRAY8 => self.push_bytes(8)?,
            op::EMPTY_DICT => {
                let id = self.heap.add(Object::Map(Vec::new()));
                self.stack.push(Value::Dict(id));
            }
            op::EMPTY_LIST => {
                let id = self.heap.add(Object::Seq(Vec::new()));
                self.stack.push(Value::List(id));
            }
            op::EMPTY_TUPLE => self.push_tuple(Vec::new()),
            op::TUPLE1 | op::TUPLE2 | op::TUPLE3 => {
                let n = (opcode - op::TUPLE1 + 1) as usize;
                let items = self.pop_n(n)?;
                self.push_tuple(items);
            }
            op::TUPLE => {
                let items = self.pop_mark()?;
                self.push_tuple(items);
            }
            op::LIST => {
                let items = self.pop_mark()?;
                let id = self.heap.add(Object::Seq(items));
                self.stack.push(Value::List(id));
            }
            op::DICT => {
                let items = self.pop_mark()?;
                let entries = pairs(items, self.at)?;
                let id = self.heap.add(Object::Map(entries));
                self.stack.push(Value::Dict(id));
            }
            op::APPEND => {
                let item = self.pop()?;
                self.extend_list(vec![item])?;
            }
            op::APPENDS => {
                let items = self.pop_mark()?;
                self.extend_list(items)?;
            }
            op::SETITEM => {
                let items = self.pop_n(2)?;
                self.extend_dict(items)?;
            }
            op::SETITEMS => {
                let items = self.pop_mark()?;
                self.extend_dict(items)?;
            }
            op::GLOBAL => {
                let module = self.read_line()?;
                let name = self.read_line()?;
                let global = resolve_global(module, name)?;
                self.stack.push(Value::Global(global));
            }
            op::STACK_GLOBAL => {
                let name = self.pop()?;
                let module = self.pop()?;
                let (Value::Str(module), Value::Str(name)) = (&module, &name) else {
                    return Err(self.malformed("STACK_GLOBAL needs two strings".into()));
                };
                let global = resolve_global(module, name)?;
                self.stack.push(Value::Global(global));
            }
            op::REDUCE => {
                let args = self.pop()?;
                let callable = self.pop()?;
                let result = self.call(&callable, &args)?;
                self.stack.push(result);
            }
            op::NEWOBJ => {
                let args = self.pop()?;
                let class = self.pop()?;
                let result = self.new_object(&class, &args)?;
                self.stack.push(result);
            }
            op::NEWOBJ_EX => {
                let _kwargs = self.pop()?;
                let args = self.pop()?;
                let class = self.pop()?;
                let result = self.new_object(&class, &args)?;
                self.stack.push(result);
            }
            // Sets attributes (an OrderedDict's `_metadata`, a parameter's
            // state): nothing restyle reads, so the state is dropped.
            op::BUILD => {
                self.pop()?;
                self.top()?;
            }
            op::BINPUT => {
                let index = self.read_u8()?.into();
                self.memoize(index)?;
            }
            op::LONG_BINPUT => {
                let index = u32::from_le_bytes(self.read_array()?);
                self.memoize(index)?;
            }
            op::MEMOIZE => {
                let index = u32::try_from(self.memo.len())
                    .map_err(|_| self.malformed("memo overflow".into()))?;
                self.memoize(index)?;
            }
            op::BINGET => {
                let index = self.read_u8()?.into();
                self.recall(index)?;
            }
            op::LONG_BINGET => {
                let index = u32::from_le_bytes(self.read_array()?);
                self.recall(index)?;
            }
            op::BINPERSID => {
                let pid = self.pop()?;
                let storage = self.persistent_load(&pid)?;
                self.stack.push(storage);
            }
            _ => {
                return Err(PickleError::UnknownOpcode {
                    op: opcode,
                    at: self.at,
                })
            }
        }
        Ok(())
    }

    fn malformed(&self, reason: String) -> PickleError {
        PickleError::Malformed {
            at: self.at,
            reason,
        }
    }

    fn read_bytes(&mut self, n: usize) -> Result<&'a [u8], PickleError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.data.len());
        let end = end.ok_or(PickleError::Truncated { at: self.at })?;
        let bytes = &self.data[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    fn read_array<const N: usize>(&mut self) -> Result<[u8; N], PickleError> {
        let bytes = self.read_bytes(N)?;
        Ok(bytes.try_into().expect("read_bytes returns N bytes"))
    }

    fn read_u8(&mut self) -> Result<u8, PickleError> {
        Ok(self.read_array::<1>()?[0])
    }

    fn read_u64(&mut self) -> Result<u64, PickleError> {
        Ok(u64::from_le_bytes(self.read_array()?))
    }

    /// Bytes preceded by their length, a little-endian integer of `width`
    /// bytes (1, 4 or 8). The length is checked against what is left before
    /// anything is read, so an absurd one is just a truncation.
    fn read_counted(&mut self, width: usize) -> Result<&'a [u8], PickleError> {
        let len = match width {
            1 => u64::from(self.read_u8()?),
            4 => u64::from(u32::from_le_bytes(self.read_array()?)),
            _ => self.read_u64()?,
        };
        let len = usize::try_from(len).map_err(|_| PickleError::Truncated { at: self.at })?;
        self.read_bytes(len)
    }

    /// A newline-terminated ASCII line (GLOBAL's operands).
    fn read_line(&mut self) -> Result<&'a str, PickleError> {
        let rest: &'a [u8] = &self.data[self.pos..];
        let len = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or(PickleError::Truncated { at: self.at })?;
        let line = std::str::from_utf8(&rest[..len]).map_err(|_| PickleError::Malformed {
            at: self.at,
            reason: "GLOBAL names a module or class that is not text".into(),
        })?;
        self.pos += len + 1;
        Ok(line)
    }

    fn push_str(&mut self, width: usize) -> Result<(), PickleError> {
        let bytes = self.read_counted(width)?;
        let text = std::str::from_utf8(bytes).map_err(|_| PickleError::Malformed {
            at: self.at,
            reason: "a string is not valid UTF-8".into(),
        })?;
        let value = Value::Str(text.into());
        self.stack.push(value);
        Ok(())
    }

    fn push_bytes(&mut self, width: usize) -> Result<(), PickleError> {
        let value = Value::Bytes(self.read_counted(width)?.into());
        self.stack.push(value);
        Ok(())
    }

    fn push_tuple(&mut self, items: Vec<Value>) {
        let id = self.heap.add(Object::Seq(items));
        self.stack.push(Value::Tuple(id));
    }

    /// LONG1's operand: a little-endian two's-complement integer.
    fn long(&self, bytes: &[u8]) -> Result<Value, PickleError> {
        if bytes.len() > 16 {
            return Err(self.malformed(format!("a {}-byte integer is too large", bytes.len())));
        }
        let mut v: i128 = 0;
        for (i, &b) in bytes.iter().enumerate() {
            v |= i128::from(b) << (8 * i);
        }
        if let Some(&last) = bytes.last() {
            let bits = 8 * bytes.len() as u32;
            if last & 0x80 != 0 && bits < 128 {
                v -= 1i128 << bits; // sign-extend
            }
        }
        Ok(i64::try_from(v).map(Value::Int).unwrap_or(Value::BigInt(v)))
    }

    /// The lowest stack index the current MARK lets opcodes pop down to.
    fn mark_floor(&self) -> usize {
        self.marks.last().copied().unwrap_or(0)
    }

    fn pop(&mut self) -> Result<Value, PickleError> {
        if self.stack.len() <= self.mark_floor() {
            return Err(self.malformed("stack underflow".into()));
        }
        self.stack
            .pop()
            .ok_or_else(|| self.malformed("stack underflow".into()))
    }

    fn top(&self) -> Result<&Value, PickleError> {
        if self.stack.len() <= self.mark_floor() {
            return Err(self.malformed("stack underflow".into()));
        }
        self.stack
            .last()
            .ok_or_else(|| self.malformed("stack underflow".into()))
    }

    fn pop_n(&mut self, n: usize) -> Result<Vec<Value>, PickleError> {
        if self.stack.len() < self.mark_floor() + n {
            return Err(self.malformed("stack underflow".into()));
        }
        Ok(self.stack.split_off(self.stack.len() - n))
    }

    /// Everything pushed since the last MARK, which is removed.
    fn pop_mark(&mut self) -> Result<Vec<Value>, PickleError> {
        let mark = self
            .marks
            .pop()
            .ok_or_else(|| self.malformed("no MARK to pop to".into()))?;
        Ok(self.stack.split_off(mark.min(self.stack.len())))
    }

    fn extend_list(&mut self, items: Vec<Value>) -> Result<(), PickleError> {
        let target = match self.top()? {
            Value::List(id) => *id,
            other => return Err(self.malformed(format!("APPEND to a {}", other.kind()))),
        };
        if let Some(Object::Seq(list)) = self.heap.objects.get_mut(target) {
            list.extend(items);
        }
        Ok(())
    }

    fn extend_dict(&mut self, items: Vec<Value>) -> Result<(), PickleError> {
        let target = match self.top()? {
            Value::Dict(id) => *id,
            other => return Err(self.malformed(format!("SETITEM on a {}", other.kind()))),
        };
        let entries = pairs(items, self.at)?;
        if let Some(Object::Map(map)) = self.heap.objects.get_mut(target) {
            map.extend(entries);
        }
        Ok(())
    }

    fn memoize(&mut self, index: u32) -> Result<(), PickleError> {
        let top = self.top()?.clone();
        self.memo.insert(index, top);
        Ok(())
    }

    fn recall(&mut self, index: u32) -> Result<(), PickleError> {
        let value = self.memo.get(&index).cloned();
        let value =
            value.ok_or_else(|| self.malformed(format!("memo entry {index} was never stored")))?;
        self.stack.push(value);
        Ok(())
    }

    /// REDUCE: the only callables are the allow-listed globals, interpreted here.
    fn call(&mut self, callable: &Value, args: &Value) -> Result<Value, PickleError> {
        let Value::Global(global) = callable else {
            return Err(self.malformed(format!("REDUCE calls a {}", callable.kind())));
        };
        let Value::Tuple(args) = *args else {
            return Err(self.malformed(format!(
                "REDUCE's arguments are a {}, not a tuple",
                args.kind()
            )));
        };
        match global {
            Global::OrderedDict if self.heap.items(args).is_empty() => {
                self.new_object(callable, &Value::None)
            }
            Global::OrderedDict => {
                Err(self.malformed("OrderedDict is called with arguments".into()))
            }
            Global::RebuildTensor => self
                .rebuild_tensor(self.heap.items(args))
                .map(|t| Value::Tensor(Rc::new(t))),
            Global::RebuildParameter => match self.heap.items(args).first() {
                Some(tensor @ Value::Tensor(_)) => Ok(tensor.clone()),
                _ => Err(self.malformed("_rebuild_parameter without a tensor".into())),
            },
            Global::StorageType(_) => Err(self.malformed("a storage type is called".into())),
        }
    }

    /// NEWOBJ: `cls.__new__(cls, *args)`; only OrderedDict may be made.
    fn new_object(&mut self, class: &Value, _args: &Value) -> Result<Value, PickleError> {
        match class {
            Value::Global(Global::OrderedDict) => {
                let id = self.heap.add(Object::Map(Vec::new()));
                Ok(Value::Dict(id))
            }
            other => Err(self.malformed(format!("cannot create an object of a {}", other.kind()))),
        }
    }

    /// `_rebuild_tensor[_v2](storage, offset, size, stride, ...)`.
    fn rebuild_tensor(&self, args: &[Value]) -> Result<TensorRef, PickleError> {
        let [storage, offset, size, stride, ..] = args else {
            return Err(self.malformed(format!("_rebuild_tensor_v2 gets {} arguments", args.len())));
        };
        let Value::Storage(storage) = storage else {
            return Err(self.malformed(format!("a tensor's storage is a {}", storage.kind())));
        };
        let offset = self.usize_of(offset, "a tensor's offset")?;
        let size = self.usizes_of(size, "a tensor's size")?;
        let stride = self.usizes_of(stride, "a tensor's stride")?;
        if size.len() != stride.len() {
            return Err(self.malformed(format!(
                "a tensor has {} sizes but {} strides",
                size.len(),
                stride.len()
            )));
        }
        Ok(TensorRef {
            storage: storage.clone(),
            offset,
            size,
            stride,
        })
    }

    /// BINPERSID: `('storage', StorageType, key, location, numel[, view])`.
    fn persistent_load(&mut self, pid: &Value) -> Result<Value, PickleError> {
        let Value::Tuple(id) = *pid else {
            return Err(self.malformed(format!("a persistent id is a {}, not a tuple", pid.kind())));
        };
        let items = self.heap.items(id);
        match items.first() {
            Some(Value::Str(tag)) if &**tag == "storage" => {}
            Some(Value::Str(tag)) => {
                return Err(self.malformed(format!(
                    "unknown persistent id `{tag}` (restyle reads only storages)"
                )))
            }
            _ => return Err(self.malformed("a persistent id without a tag".into())),
        }
        let [_, Value::Global(Global::StorageType(dtype)), Value::Str(key), _location, numel, rest @ ..] =
            items
        else {
            return Err(self.malformed(
                "a storage's persistent id is not (tag, type, key, location, numel)".into(),
            ));
        };
        let numel = self.usize_of(numel, "a storage's size")?;
        let (view_start, view_len) = match rest.first() {
            None | Some(Value::None) => (0, numel),
            Some(view) => self.storage_view(view, numel)?,
        };
        let storage = Rc::new(StorageRef {
            key: key.to_string(),
            dtype: *dtype,
            numel,
            view_start,
            view_len,
        });
        self.storages.push(storage.clone());
        Ok(Value::Storage(storage))
    }

    /// torch 0.3's `(view_key, offset, size)`: a slice of a storage.
    fn storage_view(&self, view: &Value, numel: usize) -> Result<(usize, usize), PickleError> {
        let bad = || {
            self.malformed("a storage view is not (key, offset, size) within its storage".into())
        };
        let Some([_, offset, len]) = self.heap.seq_of(view) else {
            return Err(bad());
        };
        let (start, len) = (
            self.usize_of(offset, "a view's offset")?,
            self.usize_of(len, "a view's size")?,
        );
        match start.checked_add(len) {
            Some(end) if end <= numel => Ok((start, len)),
            _ => Err(bad()),
        }
    }

    fn usize_of(&self, value: &Value, what: &str) -> Result<usize, PickleError> {
        match value {
            Value::Int(v) => {
                usize::try_from(*v).map_err(|_| self.malformed(format!("{what} is {v}")))
            }
            other => Err(self.malformed(format!("{what} is a {}, not an int", other.kind()))),
        }
    }

    fn usizes_of(&self, value: &Value, what: &str) -> Result<Vec<usize>, PickleError> {
        let items = self
            .heap
            .seq_of(value)
            .ok_or_else(|| self.malformed(format!("{what} is a {}", value.kind())))?;
        items.iter().map(|v| self.usize_of(v, what)).collect()
    }
}

/// `[k1, v1, k2, v2, ...]` as pairs.
fn pairs(items: Vec<Value>, at: usize) -> Result<Vec<(Value, Value)>, PickleError> {
    if !items.len().is_multiple_of(2) {
        return Err(PickleError::Malformed {
            at,
            reason: "a dict gets a key without a value".into(),
        });
    }
    let mut out = Vec::with_capacity(items.len() / 2);
    let mut items = items.into_iter();
    while let (Some(k), Some(v)) = (items.next(), items.next()) {
        out.push((k, v));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Prefixes `ops` with PROTO 2 and ends it with STOP.
    fn pickle(ops: &[u8]) -> Vec<u8> {
        [&[op::PROTO, 2][..], ops, &[op::STOP]].concat()
    }

    fn unicode(text: &str) -> Vec<u8> {
        [
            &[op::BINUNICODE][..],
            &(text.len() as u32).to_le_bytes(),
            text.as_bytes(),
        ]
        .concat()
    }

    #[test]
    fn reads_a_dict_of_scalars() {
        let mut ops = vec![op::EMPTY_DICT, op::BINPUT, 0, op::MARK];
        ops.extend(unicode("a"));
        ops.extend([op::BININT1, 7]);
        ops.extend(unicode("b"));
        ops.extend([op::BININT, 0xfe, 0xff, 0xff, 0xff]); // -2
        ops.extend([op::SHORT_BINUNICODE, 1, b'c', op::BINFLOAT]);
        ops.extend(1.5f64.to_be_bytes());
        ops.extend([
            op::SHORT_BINUNICODE,
            1,
            b'd',
            op::SHORT_BINBYTES,
            2,
            1,
            2,
            op::SETITEMS,
        ]);
        let u = load(&pickle(&ops)).unwrap();
        let Value::Dict(id) = u.value else {
            panic!("{:?}", u.value)
        };
        let entries = u.heap.entries(id);
        assert_eq!(entries.len(), 4);
        assert!(matches!(&entries[0], (Value::Str(k), Value::Int(7)) if &**k == "a"));
        assert!(matches!(&entries[1], (_, Value::Int(-2))));
        assert!(matches!(&entries[2], (_, Value::Float(f)) if *f == 1.5));
        assert!(matches!(&entries[3], (_, Value::Bytes(b)) if **b == [1, 2]));
        assert_eq!(u.len, ops.len() + 3);
    }

    #[test]
    fn long1_reads_wide_and_negative_integers() {
        // The legacy format's magic number, as torch.save writes it.
        let magic = [
            0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19,
            0x2e,
        ];
        assert!(matches!(
            load(&magic).unwrap().value,
            Value::BigInt(0x1950a86a20f9469cfc6c)
        ));
        assert!(matches!(
            load(&pickle(&[op::LONG1, 1, 0xff])).unwrap().value,
            Value::Int(-1)
        ));
        assert!(matches!(
            load(&pickle(&[op::LONG1, 0])).unwrap().value,
            Value::Int(0)
        ));
        let big = [&[op::LONG1, 5][..], &[0, 0, 0, 0x80, 0]].concat();
        assert!(matches!(
            load(&pickle(&big)).unwrap().value,
            Value::Int(0x8000_0000)
        ));
        let too_wide = [&[op::LONG1, 17][..], &[0; 17]].concat();
        assert!(matches!(
            load(&pickle(&too_wide)),
            Err(PickleError::Malformed { .. })
        ));
    }

    #[test]
    fn globals_outside_the_allow_list_are_refused_by_name() {
        let cases: [(&[u8], &str); 4] = [
            (b"cos\nsystem\n(X\x02\x00\x00\x00lstR.", "os.system"),
            (
                b"\x80\x04\x8c\x08builtins\x8c\x04eval\x93.",
                "builtins.eval",
            ),
            (b"ctorch\nload\n.", "torch.load"),
            (
                b"ctorchvision.models.vgg\nVGG\n)\x81.",
                "torchvision.models.vgg.VGG",
            ),
        ];
        for (bytes, name) in cases {
            match load(bytes) {
                Err(e @ PickleError::Refused(_)) => {
                    assert!(
                        e.to_string().contains(&format!("refuses to load `{name}`")),
                        "{e}"
                    )
                }
                other => panic!("{name}: {other:?}"),
            }
        }
        for (module, name) in [
            ("collections", "OrderedDict"),
            ("torch", "HalfStorage"),
            ("torch._utils", "_rebuild_tensor_v2"),
        ] {
            assert!(resolve_global(module, name).is_ok(), "{module}.{name}");
        }
        assert!(resolve_global("torch", "Storage").is_err());
        assert!(resolve_global("torch", "from_file").is_err());
    }

    #[test]
    fn malformed_pickles_are_errors() {
        let malformed: [&[u8]; 11] = [
            &[op::TUPLE],  // no MARK
            &[op::REDUCE], // underflow
            &[op::TUPLE2],
            &[op::MARK, op::BININT1, 1, op::SETITEMS], // not a dict
            &[op::BINGET, 5],                          // memo miss
            &[op::LONG_BINGET, 0, 0, 0, 1],
            &[op::BININT1, 1, op::BININT1, 2, op::REDUCE], // calling an int
            &[op::NONE, op::BINPERSID],                    // persistent id that is not a tuple
            &[op::MARK, op::APPEND],                       // APPEND may not reach below a MARK
            &[op::EMPTY_LIST, op::MARK, op::NONE, op::SETITEMS],
            &[op::PROTO, 9],
        ];
        for ops in malformed {
            assert!(
                matches!(load(&pickle(ops)), Err(PickleError::Malformed { .. })),
                "{ops:?}: {:?}",
                load(&pickle(ops))
            );
        }
        assert!(matches!(
            load(&[op::PROTO, 2, b'I', b'1', b'\n', op::STOP]),
            Err(PickleError::UnknownOpcode { op: b'I', .. })
        ));
    }

    #[test]
    fn absurd_lengths_and_early_ends_are_truncations() {
        let truncated: [&[u8]; 7] = [
            b"",
            &[op::PROTO, 2], // no STOP
            &[op::BINUNICODE, 0xff, 0xff, 0xff, 0xff, b'a', op::STOP],
            &[op::BINUNICODE8, 0, 0, 0, 0, 0, 0, 0, 0x80, op::STOP],
            &[
                op::BINBYTES8,
                0xff,
                0xff,
                0xff,
                0xff,
                0xff,
                0xff,
                0xff,
                0xff,
                op::STOP,
            ],
            &[op::FRAME, 0, 0, 0, 0, 0, 0, 0, 0x10, op::NONE, op::STOP],
            b"ctorch\nFloatStorage",
        ];
        for bytes in truncated {
            assert!(
                matches!(load(bytes), Err(PickleError::Truncated { .. })),
                "{bytes:?}: {:?}",
                load(bytes)
            );
        }
    }

    #[test]
    fn deep_nesting_and_cycles_neither_overflow_nor_copy() {
        let depth = 1_000_000;
        // A list nested a million deep.
        let mut ops = vec![op::EMPTY_LIST; depth];
        ops.extend(vec![op::APPEND; depth - 1]);
        assert!(matches!(load(&pickle(&ops)).unwrap().value, Value::List(_)));
        // Tuples too.
        let mut ops = vec![op::EMPTY_TUPLE];
        ops.extend(vec![op::TUPLE1; depth]);
        assert!(matches!(
            load(&pickle(&ops)).unwrap().value,
            Value::Tuple(_)
        ));
        // A list that contains itself.
        let u = load(&pickle(&[
            op::EMPTY_LIST,
            op::BINPUT,
            0,
            op::BINGET,
            0,
            op::APPEND,
        ]))
        .unwrap();
        let Value::List(id) = u.value else { panic!() };
        assert!(matches!(u.heap.items(id), [Value::List(inner)] if *inner == id));
        // Doubling through the memo 200 times: 2^200 leaves if it were copied.
        let mut ops = vec![op::EMPTY_LIST, op::BINPUT, 0];
        for _ in 0..200 {
            ops.extend([
                op::POP,
                op::BINGET,
                0,
                op::BINGET,
                0,
                op::TUPLE2,
                op::BINPUT,
                0,
            ]);
        }
        assert!(load(&pickle(&ops)).is_ok());
    }

    #[test]
    fn random_and_mutated_bytes_never_panic() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        // A real state-dict pickle (protocol 2), as torch.save writes it.
        let mut valid = vec![op::PROTO, 2, op::EMPTY_DICT, op::BINPUT, 0, op::MARK];
        valid.extend(unicode("w"));
        valid.extend(b"ctorch._utils\n_rebuild_tensor_v2\nq\x01(");
        valid.extend([op::MARK]);
        valid.extend(unicode("storage"));
        valid.extend(b"ctorch\nFloatStorage\n");
        valid.extend(unicode("0"));
        valid.extend(unicode("cpu"));
        valid.extend([
            op::BININT1,
            1,
            op::TUPLE,
            op::BINPERSID,
            op::BININT1,
            0,
            op::BININT1,
            4,
            op::TUPLE1,
        ]);
        valid.extend([op::BININT1, 0, op::TUPLE1, op::NEWFALSE]);
        valid.extend(b"ccollections\nOrderedDict\n)R");
        valid.extend([op::TUPLE, op::REDUCE, op::SETITEMS, op::STOP]);
        let u = load(&valid).unwrap();
        let Value::Dict(id) = u.value else { panic!() };
        let [(_, Value::Tensor(t))] = u.heap.entries(id) else {
            panic!("{:?}", u.heap.entries(id))
        };
        assert_eq!(
            (t.size.as_slice(), t.stride.as_slice(), t.storage.dtype),
            (&[4][..], &[0][..], Dtype::F32)
        );

        for _ in 0..20_000 {
            let mut bytes = valid.clone();
            for _ in 0..rng.random_range(1..4) {
                let i = rng.random_range(0..bytes.len());
                bytes[i] = rng.random();
            }
            bytes.truncate(rng.random_range(0..=bytes.len()));
            let _ = load(&bytes);
            let noise: Vec<u8> = (0..rng.random_range(0..64)).map(|_| rng.random()).collect();
            let _ = load(&noise);
        }
    }
}
