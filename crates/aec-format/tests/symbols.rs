//! The symbol stream: round trips, exact counts, hostile input, table checks, overhead and
//! determinism.

mod common;

use std::time::Instant;

use aec_format::{
    decode_symbols, encode_symbols, FormatError, SymbolTable, SymbolTables, MAX_ALPHABET,
};
use common::{draw, gaussian, information_bits, quantize, realistic_tables, tables_of, Rng};

fn round_trip(symbols: &[i32], tables: &SymbolTables) -> Vec<u8> {
    let bytes = encode_symbols(symbols, tables).unwrap();
    assert_ne!(bytes.last(), Some(&0));
    let mut out = vec![123; 7]; // cleared by the decoder
    decode_symbols(&bytes, tables, symbols.len(), &mut out).unwrap();
    assert_eq!(out, symbols);
    bytes
}

#[test]
fn round_trips_for_many_table_shapes() {
    let mut rng = Rng(1);
    let skewed = quantize(&[0.0005, 0.999, 0.0005]);
    let wide: Vec<u32> = vec![256; MAX_ALPHABET];
    let shapes: Vec<(&str, SymbolTables)> = vec![
        ("one 1-symbol dim", tables_of(&[(5, vec![1 << 24])])),
        (
            "1-symbol dims only",
            tables_of(&[
                (0, vec![1 << 24]),
                (-7, vec![1 << 24]),
                (i32::MAX, vec![1 << 24]),
            ]),
        ),
        (
            "skewed 0.999",
            tables_of(&[(-1, skewed.clone()), (0, skewed.clone())]),
        ),
        (
            "probability 1 / 2^24",
            tables_of(&[(0, vec![1, (1 << 24) - 2, 1])]),
        ),
        ("wide 65536 symbols", tables_of(&[(-32768, wide.clone())])),
        (
            "wide at the ends of i32",
            tables_of(&[(i32::MIN, wide.clone()), (i32::MAX - 65535, wide)]),
        ),
        (
            "gaussian",
            tables_of(&[gaussian(8, 2.5), gaussian(30, 9.0)]),
        ),
        ("realistic, 128 dims", realistic_tables(&mut rng, 128)),
        ("realistic, 7 dims", realistic_tables(&mut rng, 7)),
    ];
    for (name, tables) in &shapes {
        let l = tables.code_length();
        for tiles in [0usize, 1, 2, 3, 17, 200] {
            for uniform in [false, true] {
                let symbols = draw(&mut rng, tables, tiles * l, uniform);
                round_trip(&symbols, tables);
            }
        }
        // The extremes of every alphabet.
        let lows: Vec<i32> = tables.tables().iter().map(|t| t.min_symbol).collect();
        let highs: Vec<i32> = tables.tables().iter().map(|t| t.max_symbol()).collect();
        assert!(round_trip(&lows.repeat(5), tables).is_empty(), "{name}");
        round_trip(&highs.repeat(5), tables);
    }
}

#[test]
fn a_long_stream_round_trips() {
    let mut rng = Rng(2);
    let tables = realistic_tables(&mut rng, 128);
    let symbols = draw(&mut rng, &tables, 384 * 128, false);
    round_trip(&symbols, &tables);
}

#[test]
fn the_stream_is_empty_exactly_when_every_symbol_is_its_alphabets_smallest() {
    let t = tables_of(&[(0, vec![1 << 23, 1 << 23]), (-3, vec![1 << 24])]);
    assert!(encode_symbols(&[], &t).unwrap().is_empty());
    assert!(encode_symbols(&[0, -3, 0, -3, 0, -3], &t)
        .unwrap()
        .is_empty());
    assert!(!encode_symbols(&[0, -3, 1, -3, 0, -3], &t)
        .unwrap()
        .is_empty());
    let mut out = Vec::new();
    decode_symbols(&[], &t, 6, &mut out).unwrap();
    assert_eq!(out, [0, -3, 0, -3, 0, -3]);
}

/// The count is not in the stream: the decoder decodes exactly `count` symbols. Decoding a
/// stream with another count gives the true symbols as far as they go; when it succeeds, the
/// stream is the canonical encoding of what it gave. A larger count often succeeds (the
/// stream's final point, followed by zeros, also ends the longer sequence), so the count must
/// come from the header and the model, which the CRC and the model id protect.
#[test]
fn decoding_gives_exactly_count_symbols() {
    let mut rng = Rng(3);
    let tables = realistic_tables(&mut rng, 16);
    // [accepted, trials] for fewer and for more tiles than were encoded.
    let mut fewer = [0, 0];
    let mut more = [0, 0];
    let mut out = Vec::new();
    for _ in 0..300 {
        let tiles = 1 + rng.below(8);
        let symbols = draw(&mut rng, &tables, tiles * 16, false);
        let bytes = round_trip(&symbols, &tables);
        for other in [0, tiles - 1, tiles + 1, tiles + 2, 3 * tiles] {
            if other == tiles {
                continue;
            }
            let count = other * 16;
            let ok = decode_symbols(&bytes, &tables, count, &mut out).is_ok();
            let tally = if other < tiles { &mut fewer } else { &mut more };
            tally[0] += usize::from(ok);
            tally[1] += 1;
            if ok {
                assert_eq!(out.len(), count);
                let n = count.min(symbols.len());
                assert_eq!(out[..n], symbols[..n]);
                assert_eq!(encode_symbols(&out, &tables).unwrap(), bytes);
            } else {
                assert!(out.len() <= count);
            }
        }
    }
    println!(
        "decoded with fewer tiles: {} of {} accepted; with more: {} of {}",
        fewer[0], fewer[1], more[0], more[1]
    );
    assert!(fewer[0] * 20 < fewer[1], "{fewer:?}");
}

#[test]
fn counts_and_lengths_must_be_whole_tiles() {
    let t = tables_of(&[(0, vec![1 << 24]), (0, vec![1 << 24])]);
    assert!(matches!(
        encode_symbols(&[0, 0, 0], &t),
        Err(FormatError::Invalid {
            field: "symbols",
            ..
        })
    ));
    assert!(matches!(
        decode_symbols(&[], &t, 3, &mut Vec::new()),
        Err(FormatError::Invalid { field: "count", .. })
    ));
}

#[test]
fn a_symbol_outside_its_alphabet_is_an_error() {
    let t = tables_of(&[
        (0, vec![1 << 24]),
        (-2, quantize(&[1.0, 2.0, 3.0, 2.0, 1.0])),
        (i32::MAX - 1, vec![1 << 23, 1 << 23]),
        (i32::MIN, vec![1 << 23, 1 << 23]),
    ]);
    let ok = [0, 2, i32::MAX, i32::MIN + 1];
    round_trip(&ok, &t);
    let cases = [
        (1usize, 3i32),
        (1, -3),
        (0, 1),
        (0, -1),
        (2, i32::MAX - 2),
        (2, i32::MIN),
        (3, i32::MIN + 2),
        (3, i32::MAX),
    ];
    for (d, bad) in cases {
        let mut s = ok.repeat(3);
        let index = 8 + d;
        s[index] = bad;
        match encode_symbols(&s, &t) {
            Err(FormatError::SymbolOutOfRange {
                index: i,
                dimension,
                symbol,
                min,
                max,
            }) => {
                assert_eq!((i, dimension, symbol), (index, d, bad));
                assert_eq!(
                    (min, max),
                    (t.tables()[d].min_symbol, t.tables()[d].max_symbol())
                );
            }
            other => panic!("{d} {bad}: {other:?}"),
        }
    }
}

#[test]
fn bad_tables_are_rejected() {
    let table = |min_symbol, probabilities| SymbolTable {
        min_symbol,
        probabilities,
    };
    let good = table(0, vec![1 << 23, 1 << 23]);
    assert!(matches!(
        SymbolTables::new(vec![]),
        Err(FormatError::Invalid { .. })
    ));
    let cases = [
        table(0, vec![]),
        table(0, vec![0, 1 << 24]),
        table(0, vec![1 << 23, (1 << 23) - 1]),
        table(0, vec![1 << 23, (1 << 23) + 1]),
        table(0, vec![u32::MAX, (1 << 24) + 1]), // sums to 2^24 modulo 2^32
        table(0, vec![1; 1 << 24]),              // too many symbols (sum is right)
        table(0, vec![256; MAX_ALPHABET + 1]),
        table(i32::MAX, vec![1 << 23, 1 << 23]),
    ];
    for (i, bad) in cases.into_iter().enumerate() {
        match SymbolTables::new(vec![good.clone(), bad]) {
            Err(FormatError::BadSymbolTable {
                dimension: 1,
                reason,
            }) => {
                println!("case {i}: {reason}");
            }
            other => panic!("case {i}: {other:?}"),
        }
    }
    let max = SymbolTables::new(vec![table(i32::MAX - 1, vec![1 << 23, 1 << 23])]).unwrap();
    assert_eq!(max.tables()[0].max_symbol(), i32::MAX);
    assert_eq!(max.code_length(), 1);
}

/// Random bytes, with random counts: never a panic, work bounded by the count, and what is
/// accepted is canonical. Prints how often each damage goes undetected by the stream alone.
#[test]
fn garbage_and_damage_are_handled() {
    let mut rng = Rng(4);
    let tables = realistic_tables(&mut rng, 128);
    let mut out = Vec::new();
    let mut tally = std::collections::BTreeMap::<&str, [usize; 2]>::new();
    let mut check = |what: &'static str, bytes: &[u8], count: usize, out: &mut Vec<i32>| {
        let ok = decode_symbols(bytes, &tables, count, out).is_ok();
        if ok {
            assert_eq!(out.len(), count);
            assert_eq!(encode_symbols(out, &tables).unwrap(), bytes, "{what}");
        }
        assert!(out.len() <= count);
        tally.entry(what).or_default()[usize::from(ok)] += 1;
    };
    for _ in 0..3000 {
        let count = 128 * rng.below(4);
        let len = rng.below(4 * count + 16);
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        check("random bytes", &bytes, count, &mut out);
    }
    for _ in 0..3000 {
        let symbols = draw(&mut rng, &tables, 128, false);
        let good = encode_symbols(&symbols, &tables).unwrap();
        let mut b = good.clone();
        let bit = rng.below(8 * b.len());
        b[bit / 8] ^= 1 << (bit % 8);
        check("one bit flipped", &b, 128, &mut out);
        let mut b = good.clone();
        b.pop();
        check("last byte dropped", &b, 128, &mut out);
        let mut b = good.clone();
        b.push(1 + rng.below(255) as u8);
        check("a byte appended", &b, 128, &mut out);
        let mut b = good.clone();
        b.extend((0..4).map(|_| 1 + rng.below(255) as u8));
        check("4 bytes appended", &b, 128, &mut out);
    }
    println!("[rejected, accepted]: {tally:?}");

    // A long payload is refused before any decoding, whatever the count.
    let t0 = Instant::now();
    let long = vec![0x55u8; 4 * (896 + 2) + 1];
    assert!(matches!(
        decode_symbols(&long, &tables, 896, &mut out),
        Err(FormatError::StreamNotCanonical { count: 896 })
    ));
    assert!(out.is_empty() && out.capacity() < 1 << 20);
    // A short payload with a large count: the decoder works through the count (zeros past
    // the end) in time proportional to it.
    let count = 128 << 13; // 2^20 symbols
    let r = decode_symbols(&[0x12, 0x34], &tables, count, &mut out);
    println!(
        "2 bytes decoded as {count} symbols: {} in {:?}",
        if r.is_ok() { "accepted" } else { "rejected" },
        t0.elapsed()
    );
    assert!(t0.elapsed().as_secs() < 10);
}

/// Over 128-symbol streams drawn from realistic tables, the payload is on average less than
/// one byte longer than the information content of its symbols.
#[test]
fn overhead_of_a_tile_is_under_one_byte() {
    let mut rng = Rng(5);
    let (mut extra, mut worst, trials) = (0.0f64, f64::MIN, 2000);
    for _ in 0..trials {
        let tables = realistic_tables(&mut rng, 128);
        let symbols = draw(&mut rng, &tables, 128, false);
        let bytes = encode_symbols(&symbols, &tables).unwrap();
        let over = bytes.len() as f64 - information_bits(&symbols, &tables) / 8.0;
        extra += over;
        worst = worst.max(over);
    }
    let mean = extra / f64::from(trials);
    println!("128-symbol streams: {mean:+.3} bytes over the information content on average, {worst:+.3} at worst");
    assert!(mean < 1.0, "mean overhead {mean}");
    assert!(mean > -1.0, "mean overhead {mean}");
}

#[test]
fn encoding_is_deterministic() {
    let mut rng = Rng(6);
    let tables = realistic_tables(&mut rng, 128);
    let symbols = draw(&mut rng, &tables, 128 * 40, false);
    let a = encode_symbols(&symbols, &tables).unwrap();
    let rebuilt = SymbolTables::new(tables.tables().to_vec()).unwrap();
    assert_eq!(rebuilt, tables);
    assert_eq!(encode_symbols(&symbols, &rebuilt).unwrap(), a);
    assert_eq!(encode_symbols(&symbols, &tables).unwrap(), a);
    // A fixed input gives fixed bytes on every machine (the test vectors pin more).
    let t = tables_of(&[
        (0, vec![1 << 24]),
        (-1, vec![1 << 20, (1 << 24) - (1 << 21), 1 << 20]),
    ]);
    let s: Vec<i32> = (0..64)
        .map(|k| if k % 2 == 0 { 0 } else { k % 3 - 1 })
        .collect();
    let bytes = encode_symbols(&s, &t).unwrap();
    let fnv = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    println!("{} bytes, fnv-1a {fnv:#018x}", bytes.len());
    assert_eq!((bytes.len(), fnv), (EXPECTED_LEN, EXPECTED_FNV));
}

const EXPECTED_LEN: usize = 11;
const EXPECTED_FNV: u64 = 0x440a_1509_b38a_63eb;

/// The streaming coder with any table per symbol: round trip, the same bytes as
/// `encode_symbols` when the tables cycle, and the decoder's checks.
#[test]
fn streaming_coder_with_chosen_tables() {
    use aec_format::{SymbolDecoder, SymbolEncoder};
    let t = SymbolTables::new(vec![
        SymbolTable {
            min_symbol: -2,
            probabilities: vec![
                1 << 20,
                1 << 22,
                (1 << 24) - (1 << 23) - (1 << 21),
                1 << 22,
                1 << 20,
            ],
        },
        SymbolTable {
            min_symbol: 0,
            probabilities: vec![1 << 23, 1 << 23],
        },
    ])
    .unwrap();
    let choice: Vec<usize> = (0..200).map(|k| (k * 7 / 3) % 2).collect();
    let symbols: Vec<i32> = choice
        .iter()
        .enumerate()
        .map(|(k, &c)| {
            if c == 0 {
                (k as i32 % 5) - 2
            } else {
                k as i32 % 2
            }
        })
        .collect();
    let mut enc = SymbolEncoder::with_capacity(symbols.len());
    for (&s, &c) in symbols.iter().zip(&choice) {
        enc.encode(s, c, &t).unwrap();
    }
    assert!(
        enc.encode(7, 1, &t).is_err(),
        "a symbol outside its alphabet"
    );
    assert!(enc.encode(0, 2, &t).is_err(), "a table that does not exist");
    let bytes = enc.finish();
    let mut dec = SymbolDecoder::new(&bytes, symbols.len()).unwrap();
    let back: Vec<i32> = choice.iter().map(|&c| dec.decode(c, &t).unwrap()).collect();
    assert_eq!(back, symbols);
    assert!(dec.decode(0, &t).is_err(), "past the declared count");
    dec.finish().unwrap();

    let mut short = SymbolDecoder::new(&bytes, symbols.len()).unwrap();
    short.decode(choice[0], &t).unwrap();
    assert_eq!(short.decoded(), 1);
    assert!(
        short.finish().is_err(),
        "bytes left over are not the canonical end"
    );

    let cyclic: Vec<i32> = (0..100)
        .map(|k| if k % 2 == 0 { k % 5 - 2 } else { k % 2 })
        .collect();
    let mut enc = SymbolEncoder::with_capacity(0);
    for (k, &s) in cyclic.iter().enumerate() {
        enc.encode(s, k % 2, &t).unwrap();
    }
    assert_eq!(
        enc.finish(),
        aec_format::encode_symbols(&cyclic, &t).unwrap()
    );
}
