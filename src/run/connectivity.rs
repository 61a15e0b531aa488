//! The connectivity of a run's projections, written into the archive once per run
//! (NETWORKS.md §5): `DIR/<projection>/synapses/run=<r>/part-0.parquet` with the columns
//! `pre`, `post` (ranks in the pre and post population), `w` (the initial weight) and
//! `delay` (ms), one row per synapse, listed in the run's manifest with its size and CRC.

use std::sync::Arc;

use arrow_array::{Float64Array, RecordBatch, UInt32Array};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;

use crate::archive::{add_connectivity, ArchiveError, ArchiveLock, FigureEntry};
use crate::sim::Network;

/// The synapses of every projection of `net`: `(name, [(pre, post, w, delay_ms)])`.
pub type Connectivity = Vec<(String, Vec<(u32, u32, f64, f64)>)>;

/// The network's connectivity now (before the run changes any weight).
pub fn snapshot(net: &Network) -> Connectivity {
    net.projections()
        .iter()
        .map(|p| {
            let synapses = p
                .synapses()
                .into_iter()
                .map(|(pre, post, w, d)| (pre, post, w, f64::from(d) * net.dt()))
                .collect();
            (p.name().to_string(), synapses)
        })
        .collect()
}

/// Writes each projection's table under a temporary name, lists it in the manifest, then
/// moves it into place (a file already there that no manifest lists is refused).
pub fn write(
    connectivity: &Connectivity,
    lock: &ArchiveLock,
    run: u32,
) -> Result<(), ArchiveError> {
    let dir = lock.dir().to_path_buf();
    for (name, synapses) in connectivity {
        let rel = format!("{name}/synapses/run={run}/part-0.parquet");
        let path = dir.join(&rel);
        if std::fs::symlink_metadata(&path).is_ok() {
            return Err(ArchiveError::InTheWay {
                path: dir.clone(),
                files: vec![rel],
            });
        }
        let parent = path.parent().unwrap_or(&dir).to_path_buf();
        std::fs::create_dir_all(&parent).map_err(ArchiveError::io(&parent))?;
        let tmp = parent.join(format!(".part-0.{}.tmp.parquet", std::process::id()));
        let bytes = encode(synapses).map_err(|e| ArchiveError::Corrupt {
            path: tmp.clone(),
            what: format!("cannot encode the connectivity of {name}: {e}"),
        })?;
        std::fs::write(&tmp, &bytes).map_err(ArchiveError::io(&tmp))?;
        std::fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(ArchiveError::io(&tmp))?;
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&bytes);
        add_connectivity(
            lock,
            vec![FigureEntry {
                path: rel,
                bytes: bytes.len() as u64,
                crc32: format!("{:08x}", hasher.finalize()),
            }],
        )?;
        std::fs::rename(&tmp, &path).map_err(ArchiveError::io(&path))?;
        crate::archive::sync_dir(&parent)?;
    }
    Ok(())
}

/// One Parquet file of the synapses.
fn encode(synapses: &[(u32, u32, f64, f64)]) -> Result<Vec<u8>, String> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("pre", DataType::UInt32, false),
        Field::new("post", DataType::UInt32, false),
        Field::new("w", DataType::Float64, false),
        Field::new("delay", DataType::Float64, false),
    ]));
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            Arc::new(UInt32Array::from_iter_values(synapses.iter().map(|s| s.0))),
            Arc::new(UInt32Array::from_iter_values(synapses.iter().map(|s| s.1))),
            Arc::new(Float64Array::from_iter_values(synapses.iter().map(|s| s.2))),
            Arc::new(Float64Array::from_iter_values(synapses.iter().map(|s| s.3))),
        ],
    )
    .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut out, schema, None).map_err(|e| e.to_string())?;
    writer.write(&batch).map_err(|e| e.to_string())?;
    writer.close().map_err(|e| e.to_string())?;
    Ok(out)
}
