//! The checkpoint file layout (version 1), little-endian:
//!
//! ```text
//! magic      8 bytes   "EDDYCKPT"
//! version    u32       FORMAT_VERSION; the layout after it may change with it
//! checksum   u64       xxh3-64 of every byte after this field
//! meta_len   u64       length of the metadata
//! metadata   JSON      id, ruleset, offsets, watermarks, [{rule, bytes}]
//! states     bytes     the operator states, concatenated in metadata order
//! ```
//!
//! The metadata is JSON so a checkpoint can be inspected with `tail -c`;
//! the operator states are raw bytes so large state costs no encoding.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{
    Checkpoint, CheckpointError, OperatorState, RuleFile, RulesetFingerprint, SourceOffset,
    StreamWatermark, Unacknowledged, FORMAT_VERSION,
};

const MAGIC: &[u8; 8] = b"EDDYCKPT";
const HEADER_LEN: usize = 8 + 4 + 8 + 8;

#[derive(Serialize, Deserialize)]
struct Metadata {
    id: u64,
    ruleset: RulesetFingerprint,
    offsets: Vec<SourceOffset>,
    watermarks: Vec<StreamWatermark>,
    operators: Vec<StateEntry>,
    /// Absent in checkpoints written before eddy kept its rule files.
    #[serde(default)]
    rules: Vec<RuleFile>,
    /// Absent in checkpoints written before eddy recorded its sinks' ends.
    #[serde(default)]
    outputs: Vec<SourceOffset>,
    /// Absent in checkpoints of runs without AMQP sources.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    unacknowledged: Vec<Unacknowledged>,
}

#[derive(Serialize, Deserialize)]
struct StateEntry {
    rule: String,
    bytes: u64,
}

pub(super) fn encode(checkpoint: &Checkpoint) -> Vec<u8> {
    let metadata = Metadata {
        id: checkpoint.id,
        ruleset: checkpoint.ruleset.clone(),
        offsets: checkpoint.offsets.clone(),
        watermarks: checkpoint.watermarks.clone(),
        operators: checkpoint
            .operators
            .iter()
            .map(|o| StateEntry {
                rule: o.rule.clone(),
                bytes: o.state.len() as u64,
            })
            .collect(),
        rules: checkpoint.rules.clone(),
        outputs: checkpoint.outputs.clone(),
        unacknowledged: checkpoint.unacknowledged.clone(),
    };
    // Plain strings and integers: serialising into a Vec cannot fail.
    let meta = serde_json::to_vec(&metadata).unwrap_or_default();
    let states: usize = checkpoint.operators.iter().map(|o| o.state.len()).sum();

    let mut body = Vec::with_capacity(8 + meta.len() + states);
    body.extend_from_slice(&(meta.len() as u64).to_le_bytes());
    body.extend_from_slice(&meta);
    for operator in &checkpoint.operators {
        body.extend_from_slice(&operator.state);
    }

    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&xxhash_rust::xxh3::xxh3_64(&body).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

/// Reads a checkpoint file's bytes; `path` is for errors only. The format
/// version is checked before the checksum, so a file of another version is
/// reported as such and not as corrupt.
pub(super) fn decode(path: &Path, bytes: &[u8]) -> Result<Checkpoint, CheckpointError> {
    let corrupt = |problem: &str| CheckpointError::Corrupt {
        path: path.to_path_buf(),
        problem: problem.to_string(),
    };
    if bytes.len() < 12 || &bytes[..8] != MAGIC {
        return Err(corrupt("not an eddy checkpoint (bad magic)"));
    }
    let version = u32::from_le_bytes(take::<4>(bytes, 8).ok_or_else(|| corrupt("truncated"))?);
    if version != FORMAT_VERSION {
        return Err(CheckpointError::UnsupportedVersion {
            path: path.to_path_buf(),
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    let checksum = u64::from_le_bytes(take::<8>(bytes, 12).ok_or_else(|| corrupt("truncated"))?);
    let body = &bytes[20..];
    if xxhash_rust::xxh3::xxh3_64(body) != checksum {
        return Err(corrupt("checksum mismatch"));
    }
    let meta_len = u64::from_le_bytes(take::<8>(body, 0).ok_or_else(|| corrupt("truncated"))?);
    let meta_end = usize::try_from(meta_len)
        .ok()
        .and_then(|len| len.checked_add(8))
        .filter(|&end| end <= body.len())
        .ok_or_else(|| corrupt("metadata length beyond the end of the file"))?;
    let metadata: Metadata = serde_json::from_slice(&body[8..meta_end])
        .map_err(|e| corrupt(&format!("metadata: {e}")))?;

    let mut rest = &body[meta_end..];
    let mut operators = Vec::with_capacity(metadata.operators.len());
    for entry in metadata.operators {
        let len = usize::try_from(entry.bytes)
            .ok()
            .filter(|&len| len <= rest.len())
            .ok_or_else(|| corrupt(&format!("state of `{}` beyond the end", entry.rule)))?;
        let (state, tail) = rest.split_at(len);
        operators.push(OperatorState {
            rule: entry.rule,
            state: state.to_vec(),
        });
        rest = tail;
    }
    if !rest.is_empty() {
        return Err(corrupt("trailing bytes after the operator states"));
    }
    Ok(Checkpoint {
        id: metadata.id,
        ruleset: metadata.ruleset,
        offsets: metadata.offsets,
        watermarks: metadata.watermarks,
        operators,
        rules: metadata.rules,
        outputs: metadata.outputs,
        unacknowledged: metadata.unacknowledged,
    })
}

fn take<const N: usize>(bytes: &[u8], at: usize) -> Option<[u8; N]> {
    bytes.get(at..at + N)?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Checkpoint {
        Checkpoint {
            id: 7,
            ruleset: RulesetFingerprint::of(["rule x"]),
            offsets: vec![SourceOffset {
                topic: "auth".into(),
                partition: 1,
                next_offset: 42,
            }],
            watermarks: vec![StreamWatermark {
                stream: "auth".into(),
                partition: Some(1),
                watermark: 1_000,
            }],
            operators: vec![
                OperatorState {
                    rule: "a".into(),
                    state: vec![1, 2, 3],
                },
                OperatorState {
                    rule: "b".into(),
                    state: Vec::new(),
                },
            ],
            rules: vec![RuleFile {
                name: "r.eddy".into(),
                text: "rule x".into(),
            }],
            outputs: vec![SourceOffset {
                topic: "alerts".into(),
                partition: 0,
                next_offset: 9,
            }],
            unacknowledged: vec![Unacknowledged {
                channel: "amqp:auth".into(),
                identities: vec![3, 3, u64::MAX],
            }],
        }
    }

    #[test]
    fn encoding_round_trips() {
        let bytes = encode(&sample());
        assert_eq!(decode(Path::new("x"), &bytes).unwrap(), sample());
    }

    #[test]
    fn every_flipped_byte_is_detected() {
        let bytes = encode(&sample());
        for at in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[at] ^= 0x40;
            assert!(decode(Path::new("x"), &bad).is_err(), "byte {at}");
        }
    }

    #[test]
    fn every_truncation_is_detected() {
        let bytes = encode(&sample());
        for len in 0..bytes.len() {
            assert!(decode(Path::new("x"), &bytes[..len]).is_err(), "len {len}");
        }
    }
}
