//! The models built into aec: the whole-image models that `--quality` picks among (the
//! default family), the notebook's model, the tiled entropy-coded models, and the previous
//! quality levels (so that their files decode).

use super::family::{codec_from_known_bytes, ImageCodec};
use super::CodecError;
use crate::model::hyper::file::HyperModel;
use crate::store::ModelId;

/// Bytes of the notebook's model built into aec: the reference configuration (code length
/// 128), trained with `aec train` as `samples/model/README.md` records, stored as f16.
pub static BUILTIN_MODEL: &[u8] = include_bytes!("../../samples/model/aec-128.safetensors");

/// The whole-image hyperprior models, smallest files first (quality 1, 2, …), one per λ of
/// `scripts/train-hyper-sweep.sh` (N = 64, M = 96), then the published size (N = 128, M = 192,
/// `scripts/train-hyper-large.sh`) for the top three, stored as f16.
static QUALITY_MODELS: &[&[u8]] = &[
    include_bytes!("../../samples/model/hyper/q1.safetensors"),
    include_bytes!("../../samples/model/hyper/q2.safetensors"),
    include_bytes!("../../samples/model/hyper/q3.safetensors"),
    include_bytes!("../../samples/model/hyper/q4.safetensors"),
    include_bytes!("../../samples/model/hyper/q5.safetensors"),
    include_bytes!("../../samples/model/hyper/q6.safetensors"),
    include_bytes!("../../samples/model/hyper/q7.safetensors"),
    include_bytes!("../../samples/model/hyper/q8.safetensors"),
    include_bytes!("../../samples/model/hyper/q9.safetensors"),
];

/// The previous quality levels (scale-only hyperprior models), smallest files first, kept so
/// that files made with them still decode; `--model scale-only-qN` still makes them.
static SCALE_ONLY_MODELS: &[&[u8]] = &[
    include_bytes!("../../samples/model/hyper/scale-only/q1.safetensors"),
    include_bytes!("../../samples/model/hyper/scale-only/q2.safetensors"),
    include_bytes!("../../samples/model/hyper/scale-only/q3.safetensors"),
    include_bytes!("../../samples/model/hyper/scale-only/q4.safetensors"),
    include_bytes!("../../samples/model/hyper/scale-only/q5.safetensors"),
];

/// The quality levels before the checkerboard context (mean-scale hyperprior models), smallest
/// files first, kept so that files made with them still decode; `--model mean-scale-qN` still
/// makes them.
static MEAN_SCALE_MODELS: &[&[u8]] = &[
    include_bytes!("../../samples/model/hyper/mean-scale/q1.safetensors"),
    include_bytes!("../../samples/model/hyper/mean-scale/q2.safetensors"),
    include_bytes!("../../samples/model/hyper/mean-scale/q3.safetensors"),
    include_bytes!("../../samples/model/hyper/mean-scale/q4.safetensors"),
    include_bytes!("../../samples/model/hyper/mean-scale/q5.safetensors"),
    include_bytes!("../../samples/model/hyper/mean-scale/q6.safetensors"),
];

/// `(version, level, file)` of a replaced context level, its file named by the two numbers.
macro_rules! previous_context {
    ($version:literal, $level:literal) => {
        (
            $version,
            $level,
            include_bytes!(concat!(
                "../../samples/model/hyper/context-v",
                $version,
                "/q",
                $level,
                ".safetensors"
            )),
        )
    };
}

/// Context levels that later training replaced, as `(version, level, file)`: version 1 is a
/// level's first context model, each training further makes the next; kept so that files made
/// with them still decode, and `--model context-vV-qN` still makes them.
static PREVIOUS_CONTEXT_MODELS: &[(u8, u8, &[u8])] = &[
    previous_context!(1, 1),
    previous_context!(1, 2),
    previous_context!(1, 3),
    previous_context!(1, 4),
    previous_context!(1, 5),
    previous_context!(1, 6),
    previous_context!(1, 7),
    previous_context!(1, 8),
    previous_context!(1, 9),
    previous_context!(2, 1),
    previous_context!(2, 2),
    previous_context!(2, 3),
    previous_context!(2, 4),
    previous_context!(2, 5),
    previous_context!(2, 6),
    previous_context!(2, 7),
    previous_context!(2, 8),
    previous_context!(2, 9),
    previous_context!(3, 1),
    previous_context!(3, 2),
    previous_context!(3, 3),
    previous_context!(3, 4),
    previous_context!(3, 5),
    previous_context!(3, 6),
    previous_context!(3, 7),
    previous_context!(3, 8),
    previous_context!(3, 9),
    previous_context!(4, 1),
    previous_context!(4, 2),
    previous_context!(4, 3),
    previous_context!(4, 4),
    previous_context!(4, 5),
    previous_context!(4, 6),
    previous_context!(4, 7),
    previous_context!(5, 1),
    previous_context!(5, 2),
    previous_context!(5, 3),
    previous_context!(5, 4),
    previous_context!(5, 7),
    previous_context!(6, 2),
    previous_context!(6, 4),
    previous_context!(6, 7),
];

/// The tiled entropy-coded models, smallest files first: the notebook's architecture
/// fine-tuned with a rate term (`scripts/train-rd.sh`), stored as f16. Files made with them
/// still decode; `--model tiled-qN` still makes them.
static TILED_MODELS: &[&[u8]] = &[
    include_bytes!("../../samples/model/aec-128-q1.safetensors"),
    include_bytes!("../../samples/model/aec-128-q2.safetensors"),
    include_bytes!("../../samples/model/aec-128-q3.safetensors"),
    include_bytes!("../../samples/model/aec-128-q4.safetensors"),
];

/// Each built-in model's id (the SHA-256 of its file), so that finding the model of a file
/// hashes nothing (`ids_are_the_files_digests` holds them to the files).
static IDS: &[(Builtin, &str)] = &[
    (
        Builtin::Quality(1),
        "811db59bbd090a17783df07519bfc6e32e21b845ba3235ec36f6ecbe39ade76c",
    ),
    (
        Builtin::Quality(2),
        "41c61e553473cd24714ef3d6ec9dbd35d2accd15bfaf47ab1ea5a72f7860c2e4",
    ),
    (
        Builtin::Quality(3),
        "d856f8355224428e0c10a3f01f30b19d7d89d312c13ea8f32118e23e96eb034a",
    ),
    (
        Builtin::Quality(4),
        "dd1f00c1c13301edf7736869652bbc22be312ebd0f1458bb19ee0896c3def45a",
    ),
    (
        Builtin::Quality(5),
        "38e1a42dfb8c7968906cab21d1a59a7e88d7fa860f126d84bb3ddf7355694507",
    ),
    (
        Builtin::Quality(6),
        "9c491fb36384c6aa1f70fd8b0e52c8a64b76bf196c7b596180bf2f25ad7a87b1",
    ),
    (
        Builtin::Quality(7),
        "8d852e8b252fd1f8e19636cbf80d4fe0927606f355ec14d5a50a2fec56b52216",
    ),
    (
        Builtin::Quality(8),
        "48d852b4415ffc79255e140d8cc4699a6694e46a8f92512ebee75231617bb2a0",
    ),
    (
        Builtin::Quality(9),
        "1bc58b5b2acbe3720df3f38f6c5630852432121c69c9076e2cf6c6758a264b7a",
    ),
    (
        Builtin::Reference,
        "20eae3cb74035b9f0994d0909eb82cb83f32ea6de621a56743bc96775d46a349",
    ),
    (
        Builtin::Tiled(1),
        "3fb421f6d725d31f5fd4c69d8a99c3333173205c447ae33c80b31f66d832c0d3",
    ),
    (
        Builtin::Tiled(2),
        "e346641545ed9dfdd672b29ce503d6cc3ffaf5ee6924dbc0bb56890b4cae245b",
    ),
    (
        Builtin::Tiled(3),
        "366f989c7e1ea5d91d007ac3d288a0ac09886d630cb9a6eef3ca57901b465e84",
    ),
    (
        Builtin::Tiled(4),
        "dfddde9543a8d106113f92e8a37c362d01bf8e89aad7f7bbaf6e7beda6d99e38",
    ),
    (
        Builtin::MeanScale(1),
        "b61a0ee4fede64c09929e49f7bae162c78522e5512d1568e9effd1bd3ba69b17",
    ),
    (
        Builtin::MeanScale(2),
        "33976e295cad96001b306be2b5eee3ebb59d481754b5882aa77ec3d5fb0dbe96",
    ),
    (
        Builtin::MeanScale(3),
        "02686881f07af8207673ec5a2cffdbc643b3757fba59aa9de8723dbfe3280d1c",
    ),
    (
        Builtin::MeanScale(4),
        "29b67456bb6c1f60614ddd5cbd467af99288e01645fda27f38f6c955a1cf24df",
    ),
    (
        Builtin::MeanScale(5),
        "5ac8033e67aa4d3b1793b9b2460b2d5713d413debe5efd609b42962803cd5af6",
    ),
    (
        Builtin::MeanScale(6),
        "813af35cacab4fe65a137ef4e9150c605d488f358dfb647017a6153cc2859dae",
    ),
    (
        Builtin::ScaleOnly(1),
        "7386c08e53424885c1d853606c5b1f50737327513097698ed1a39f44665e4c52",
    ),
    (
        Builtin::ScaleOnly(2),
        "9fa8efd7eb401add4d1623c33672b8a36c9ae5a0c1774d9776c493666ceca199",
    ),
    (
        Builtin::ScaleOnly(3),
        "f5ea2b345a271ea0c1ef29ce703082600bc0e85f083838c5b644ea25b7873047",
    ),
    (
        Builtin::ScaleOnly(4),
        "6f3ef44f5299555596ad909271297613038ba0a5172a671e2ded72e73539b0b0",
    ),
    (
        Builtin::ScaleOnly(5),
        "19f7dc72bef9a7d45f7ac44f114337d2f5343ec1e4809ec084ccef43f7cdac64",
    ),
    (
        Builtin::Context {
            version: 1,
            level: 1,
        },
        "7018288bf86b7f1b8136ade8b9fbbcc3e0602321a369c7171daab9f5725249ae",
    ),
    (
        Builtin::Context {
            version: 1,
            level: 2,
        },
        "5c9206d6cb56583622aef19d2334d00a5ec23b72e2a8597a0f972ed95cd863d3",
    ),
    (
        Builtin::Context {
            version: 1,
            level: 3,
        },
        "a142d1d20963cdbdec2e0e6e4ba64631460afe42cfc420ce70becb067fee1f5c",
    ),
    (
        Builtin::Context {
            version: 1,
            level: 4,
        },
        "b1fc8981ad6d28da2f3ddef1e97f57038e55b7e3bdd94f53178d3741fcf64c99",
    ),
    (
        Builtin::Context {
            version: 1,
            level: 5,
        },
        "ca59476a360d72b806e3db5f377bb0b9f6bc531b738485cc4a0fe499bd8b8e13",
    ),
    (
        Builtin::Context {
            version: 1,
            level: 6,
        },
        "460aced997b8551f7c893c3ca917fec1281c0e1ab761fdcf3d58499dbe8b4abb",
    ),
    (
        Builtin::Context {
            version: 1,
            level: 7,
        },
        "2dd49de76ebb3474268d9b12865546a527e1577d2db69f6b0a91472e6b87b10f",
    ),
    (
        Builtin::Context {
            version: 1,
            level: 8,
        },
        "f9dc9afc3f71fce43437820bac5de45594e8b30856fc534638d1096f1caa7bd7",
    ),
    (
        Builtin::Context {
            version: 1,
            level: 9,
        },
        "50a8085653ed3d08feb7be951bf388cd43711fd58e68956e4927ef1fa23e8df4",
    ),
    (
        Builtin::Context {
            version: 2,
            level: 1,
        },
        "3a70e5b541d40e75cbec32eb62cc754ca0b24bcb358ae44c8600a0927fb98776",
    ),
    (
        Builtin::Context {
            version: 2,
            level: 2,
        },
        "70ff7e3d5cb32c77333eedf1cd1e2a252f0058146a90d1e0e722d4267599dc1b",
    ),
    (
        Builtin::Context {
            version: 2,
            level: 3,
        },
        "d61b56a9306f4191550a04dc0a28b6bd28f23805068a447451c2fb9253b9e75d",
    ),
    (
        Builtin::Context {
            version: 2,
            level: 4,
        },
        "1cba9241a43b561bd0460b9315ee7c6beceb08bd451d19982ccc7ea58b6523e7",
    ),
    (
        Builtin::Context {
            version: 2,
            level: 5,
        },
        "a62ae9759994e8747eb3c1c560e06e91cac84e4398b660fa25633b74c854717f",
    ),
    (
        Builtin::Context {
            version: 2,
            level: 6,
        },
        "a8543a7d95536e622d7da8c4a527a803617c2354357fa3beb45508a6cd04f5dc",
    ),
    (
        Builtin::Context {
            version: 2,
            level: 7,
        },
        "ec6eaf320651dc9f062b334a98ecf76a659d50846438b0f2c95016883a344b9d",
    ),
    (
        Builtin::Context {
            version: 2,
            level: 8,
        },
        "e56f7e51e601e6df887bc456894a077b24b90bbd7ce11cfc4843fb281c42604e",
    ),
    (
        Builtin::Context {
            version: 2,
            level: 9,
        },
        "f4f7770fbd6b46ffcfe3cb6efada64333c869a53ee498cfa97f357b728ed68f7",
    ),
    (
        Builtin::Context {
            version: 3,
            level: 1,
        },
        "8f1c2cbd9560cc9f3e11b771a2f4f34e7ddc3359520d0256b1f83253f1dcdb81",
    ),
    (
        Builtin::Context {
            version: 3,
            level: 2,
        },
        "eea653b27131e2cf9ec4ee0777c7a216bdcd4db3cd63bf911b3c2fb668f282c6",
    ),
    (
        Builtin::Context {
            version: 3,
            level: 3,
        },
        "91606686adc76573e0c1e1cef3ff1cdaa685b7c3911684c04f6e300e822f2ec0",
    ),
    (
        Builtin::Context {
            version: 3,
            level: 4,
        },
        "0c3656bf8cb7a609a68daa3af1c1a8fbcdd2c48673419d1648f0116efd3dd9bb",
    ),
    (
        Builtin::Context {
            version: 3,
            level: 5,
        },
        "f21fbcb2af0eb2d5f821ad391e071e93b5d1ac36a95344d3c282fc44e2349ca6",
    ),
    (
        Builtin::Context {
            version: 3,
            level: 6,
        },
        "1c5ead9d997eb066c6f63904425edbf05fe12be5e93d66d9986c1251f4963e28",
    ),
    (
        Builtin::Context {
            version: 3,
            level: 7,
        },
        "37fde84af4f3b79fdb72b2b71b4d8bb93c9363141663d4a2c5a117ab146ff762",
    ),
    (
        Builtin::Context {
            version: 3,
            level: 8,
        },
        "7b675c3ccf11a6ccbf8f442e803532d2ba8b8dd6b7e7b75cd0c0886bf85821e1",
    ),
    (
        Builtin::Context {
            version: 3,
            level: 9,
        },
        "3f9b365ae15f19358a9398f2e631d36c51e5df3b6a78bfe08ab401392be07b83",
    ),
    (
        Builtin::Context {
            version: 4,
            level: 1,
        },
        "c8a3e1984ff569531e370e95f22cc370139d7dfad44b9f1fd3f735d667d09034",
    ),
    (
        Builtin::Context {
            version: 4,
            level: 2,
        },
        "90b0f52b27cba98c0e7d2284fbf62547f6145270f438477d52b40bbfd011a2ac",
    ),
    (
        Builtin::Context {
            version: 4,
            level: 3,
        },
        "94410c9a15cd40817092b66a3bfa673ba953b5b3e2a09dfbe07ce8a7b2ff7414",
    ),
    (
        Builtin::Context {
            version: 4,
            level: 4,
        },
        "c8ca4eb7c4cd1e206099b719d708702a11f5ff8e61cacaf223da5e3f4d1c549e",
    ),
    (
        Builtin::Context {
            version: 4,
            level: 5,
        },
        "63106297a28ad5945803c2485070c85de9c986653e106405ff76e2917b73119e",
    ),
    (
        Builtin::Context {
            version: 4,
            level: 6,
        },
        "646c9a44d3dd9a811663c37e6c8d327896045627bccfd5a96597407284c06834",
    ),
    (
        Builtin::Context {
            version: 4,
            level: 7,
        },
        "ae4d45595ed5e9b61fb8365021db08820ad08568046e6a1a4a68f7d62e1ac3ee",
    ),
    (
        Builtin::Context {
            version: 5,
            level: 1,
        },
        "21c5697e67e37e29bb008858b948614e7abcf7790034fa22720fda95f479d6dd",
    ),
    (
        Builtin::Context {
            version: 5,
            level: 2,
        },
        "e83c2c27dbd8614bd852fd68584e3d29be84d2f6e8be5b502d3e044acca8bd79",
    ),
    (
        Builtin::Context {
            version: 5,
            level: 3,
        },
        "8ab985998c0795283fdc4478c2fe15451088b93d10cb26a96f108efea1059209",
    ),
    (
        Builtin::Context {
            version: 5,
            level: 4,
        },
        "83f0905767ee6a260f6eb2b0fcd600bc921cb54b17dd1455302d53e053afb761",
    ),
    (
        Builtin::Context {
            version: 5,
            level: 7,
        },
        "0e873140abb5a87ee8f3f1386b1d5921a60a65c72d9af5298b2effcb9190f474",
    ),
    (
        Builtin::Context {
            version: 6,
            level: 2,
        },
        "b5c685ca56bd5a45af72672a4466a83ad3f89ea8b3236d047386229fd0fc5e93",
    ),
    (
        Builtin::Context {
            version: 6,
            level: 4,
        },
        "2bb8f37907c6b0128ab21da325a5ff1b877b2a7864af0f8a3a7454853ba7de49",
    ),
    (
        Builtin::Context {
            version: 6,
            level: 7,
        },
        "a1024fa4533fa657896fbbd1a2d597c392fca3d76ea6bfa81f77e206605d72b8",
    ),
];

/// The quality level `aec compress` uses by default.
const DEFAULT_QUALITY: u8 = 3;

/// A model built into aec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    /// A whole-image hyperprior model, 1 = smallest files (`--quality`).
    Quality(u8),
    /// The notebook's model: codes stored as numbers (`--model reference`).
    Reference,
    /// A tiled entropy-coded model, 1 = smallest files (`--model tiled-qN`).
    Tiled(u8),
    /// A previous quality level, 1 = smallest files (`--model scale-only-qN`).
    ScaleOnly(u8),
    /// A previous quality level, 1 = smallest files (`--model mean-scale-qN`).
    MeanScale(u8),
    /// A context quality level that later training replaced (`--model context-vV-qN`); only
    /// the replaced versions exist.
    Context {
        /// 1 for a level's first context model, then one more each time it was trained on.
        version: u8,
        /// The quality level it was, 1 = smallest files.
        level: u8,
    },
}

impl Builtin {
    /// Every built-in model: the quality levels, the notebook's model, the tiled levels, the
    /// previous quality levels (newest family first: the replaced context levels by version, then
    /// the mean-scale and the scale-only ones).
    pub fn all() -> Vec<Builtin> {
        let mut v: Vec<Builtin> = (1..=Self::qualities()).map(Builtin::Quality).collect();
        v.push(Builtin::Reference);
        v.extend((1..=TILED_MODELS.len() as u8).map(Builtin::Tiled));
        v.extend(
            PREVIOUS_CONTEXT_MODELS
                .iter()
                .map(|&(version, level, _)| Builtin::Context { version, level }),
        );
        v.extend((1..=MEAN_SCALE_MODELS.len() as u8).map(Builtin::MeanScale));
        v.extend((1..=SCALE_ONLY_MODELS.len() as u8).map(Builtin::ScaleOnly));
        v
    }

    /// The model `aec compress` uses without `--model` or `--quality`.
    pub fn default_model() -> Builtin {
        Builtin::Quality(DEFAULT_QUALITY.min(Self::qualities()))
    }

    /// Whether quality level `k`'s network is wider than level `k − 1`'s (read from the files'
    /// metadata), so that its coarser steps code better than the finer steps of the level below
    /// (on Kodak, Q7 at a step of 1.6 gives 33.19 dB at 0.756 bpp where Q6 gives 32.3 at 0.77):
    /// the scale between the two then takes level `k`'s coarser steps.
    pub fn larger_than_below(k: u8) -> bool {
        let n = |k: u8| {
            let bytes = Builtin::Quality(k).bytes()?;
            HyperModel::config_of(bytes).ok().map(|(c, _)| c.n)
        };
        k > 1 && matches!((n(k), n(k - 1)), (Some(a), Some(b)) if a > b)
    }

    /// Number of quality levels.
    pub fn qualities() -> u8 {
        QUALITY_MODELS.len() as u8
    }

    /// The name `--model` takes for this model (`--quality N` for the quality levels).
    pub fn name(self) -> String {
        match self {
            Builtin::Quality(q) => format!("q{q}"),
            Builtin::Reference => "reference".into(),
            Builtin::Tiled(q) => format!("tiled-q{q}"),
            Builtin::ScaleOnly(q) => format!("scale-only-q{q}"),
            Builtin::MeanScale(q) => format!("mean-scale-q{q}"),
            Builtin::Context { version, level } => format!("context-v{version}-q{level}"),
        }
    }

    /// The built-in model that `--model NAME` names, if any.
    pub fn from_name(name: &str) -> Option<Builtin> {
        Self::all().into_iter().find(|b| b.name() == name)
    }

    /// The built-in model whose id starts with `id` (a file's model id: 16 bytes in a version 1
    /// file, 8 in a version 2 file), if any.
    pub fn of_model_id(id: &[u8]) -> Option<Builtin> {
        if id.is_empty() {
            return None;
        }
        IDS.iter()
            .map(|&(b, _)| b)
            .find(|b| b.id().is_some_and(|m| m.0.starts_with(id)))
    }

    /// The model file's bytes, `None` for a level that does not exist.
    pub fn bytes(self) -> Option<&'static [u8]> {
        let level =
            |list: &[&'static [u8]], q: u8| list.get(usize::from(q).checked_sub(1)?).copied();
        match self {
            Builtin::Quality(q) => level(QUALITY_MODELS, q),
            Builtin::Reference => Some(BUILTIN_MODEL),
            Builtin::Tiled(q) => level(TILED_MODELS, q),
            Builtin::ScaleOnly(q) => level(SCALE_ONLY_MODELS, q),
            Builtin::MeanScale(q) => level(MEAN_SCALE_MODELS, q),
            Builtin::Context { version, level } => PREVIOUS_CONTEXT_MODELS
                .iter()
                .find(|&&(v, l, _)| (v, l) == (version, level))
                .map(|&(.., bytes)| bytes),
        }
    }

    /// The model's id without hashing its file; `None` for a level that does not exist.
    pub fn id(self) -> Option<ModelId> {
        let hex = IDS.iter().find(|(b, _)| *b == self)?.1;
        let mut id = [0u8; 32];
        for (byte, pair) in id.iter_mut().zip(hex.as_bytes().chunks(2)) {
            let digit = |c: u8| (c as char).to_digit(16).expect("a hex digit") as u8;
            *byte = digit(pair[0]) << 4 | digit(pair[1]);
        }
        Some(ModelId(id))
    }

    /// The codec of this model, refusing images of more than `max_pixels`.
    pub fn codec(self, max_pixels: u64) -> Result<Box<dyn ImageCodec>, CodecError> {
        let bytes = self.bytes().ok_or_else(|| {
            CodecError::Setting(match self {
                Builtin::Tiled(q) => format!(
                    "no tiled level {q}; aec has tiled-q1 to tiled-q{}",
                    TILED_MODELS.len()
                ),
                Builtin::ScaleOnly(q) => format!(
                    "no scale-only level {q}; aec has scale-only-q1 to scale-only-q{}",
                    SCALE_ONLY_MODELS.len()
                ),
                Builtin::MeanScale(q) => format!(
                    "no mean-scale level {q}; aec has mean-scale-q1 to mean-scale-q{}",
                    MEAN_SCALE_MODELS.len()
                ),
                Builtin::Context { .. } => format!(
                    "no {}; aec has {}",
                    self.name(),
                    PREVIOUS_CONTEXT_MODELS
                        .iter()
                        .map(|&(version, level, _)| Builtin::Context { version, level }.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                _ => format!(
                    "no quality level {}; aec has levels 1 to {}",
                    self.name().trim_start_matches('q'),
                    Self::qualities()
                ),
            })
        })?;
        let id = self.id().expect("every built-in model has an id");
        codec_from_known_bytes(bytes, id, max_pixels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_published_size_is_larger_than_the_level_below() {
        let larger: Vec<u8> = (0..=Builtin::qualities() + 1)
            .filter(|&k| Builtin::larger_than_below(k))
            .collect();
        assert_eq!(larger, [7]);
    }

    #[test]
    fn ids_are_the_files_digests() {
        let all = Builtin::all();
        assert_eq!(IDS.len(), all.len());
        for b in all {
            assert_eq!(b.id(), Some(ModelId::of(b.bytes().unwrap())), "{b:?}");
        }
        assert_eq!(Builtin::Quality(0).id(), None);
    }

    #[test]
    fn a_files_model_id_finds_its_model() {
        for b in Builtin::all() {
            let id = b.id().unwrap();
            // Version 2 files hold 8 bytes of the id, version 1 files 16.
            assert_eq!(Builtin::of_model_id(&id.0[..8]), Some(b));
            assert_eq!(Builtin::of_model_id(&id.0[..16]), Some(b));
        }
        assert_eq!(Builtin::of_model_id(&[]), None);
        assert_eq!(Builtin::of_model_id(&[0x5a; 8]), None);
    }

    #[test]
    fn names_round_trip_and_every_model_loads() {
        for b in Builtin::all() {
            assert_eq!(Builtin::from_name(&b.name()), Some(b));
            assert!(b.codec(1 << 20).is_ok(), "{b:?}");
        }
        assert!(Builtin::all().contains(&Builtin::default_model()));
        assert_eq!(Builtin::from_name("q0"), None);
        assert!(Builtin::Quality(0).codec(1).is_err());
        assert!(Builtin::Tiled(9).codec(1).is_err());
        assert!(Builtin::ScaleOnly(6).codec(1).is_err());
        assert!(Builtin::MeanScale(7).codec(1).is_err());
        // A version no training makes soon, so that adopting a level leaves the test as it is.
        let missing = Builtin::Context {
            version: 99,
            level: 4,
        };
        assert!(missing.codec(1).is_err());
        assert_eq!(Builtin::from_name("context-v99-q4"), None);
    }
}
