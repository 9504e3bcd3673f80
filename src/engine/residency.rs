//! Which models may be resident together: the count limit (`OLLAMA_MAX_LOADED_MODELS`)
//! and the memory budget (`ROLLAMA_MEMORY_BUDGET`), and which idle models to unload so a
//! new one fits. Pure bookkeeping over numbers; the registry owns the models and the
//! waiting.

use std::time::Duration;

/// Models resident at once when `OLLAMA_MAX_LOADED_MODELS` is 0 ("auto"): Ollama's three
/// per GPU, three on CPU (rollama drives one device).
pub const AUTO_MAX_LOADED: usize = 3;

/// How long a load waits for busy models to release memory when `ROLLAMA_LOAD_WAIT` is not
/// set: Ollama's `OLLAMA_LOAD_TIMEOUT` default.
pub const DEFAULT_LOAD_WAIT: Duration = Duration::from_secs(300);

/// The limits a new model must fit under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Models resident at once (at least 1).
    pub max_loaded: usize,
    /// Bytes all resident models may take together; `None`: no memory limit.
    pub memory: Option<u64>,
}

/// A resident model as the planner sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Resident {
    pub name: String,
    /// Its estimated memory (weights + reserved KV), as counted against the budget.
    pub footprint: u64,
    /// Requests hold it: it cannot be unloaded now.
    pub busy: bool,
    /// Logical time of its last acquire or release; smaller = used longer ago.
    pub last_used: u64,
}

/// What to do so that a model needing `need` bytes can load.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// Unload these idle models (least recently used first; possibly none), then load.
    Fits { evict: Vec<String> },
    /// Even with every idle model unloaded it would not fit: wait for busy ones.
    Wait(Shortfall),
    /// It alone needs more than the whole budget: waiting cannot help.
    TooLarge { need: u64, budget: u64 },
}

/// Why a load must wait, for the error given when the wait runs out.
#[derive(Debug, Clone, PartialEq)]
pub struct Shortfall {
    pub need: u64,
    /// Bytes free with every idle model unloaded (`None` without a memory limit).
    pub free: Option<u64>,
    pub budget: Option<u64>,
    pub max_loaded: usize,
    /// The models in use that hold the room.
    pub busy: Vec<String>,
}

impl Shortfall {
    /// Says what holds the room, for the client: the model names and the numbers, no paths.
    pub fn describe(&self) -> String {
        let busy = self.busy.join(", ");
        match (self.free, self.budget) {
            (Some(free), Some(budget)) if free < self.need => format!(
                "it needs {} and {} of the {} memory budget is free; the rest is held by models in use ({busy})",
                human_bytes(self.need),
                human_bytes(free),
                human_bytes(budget),
            ),
            _ => format!(
                "{} models may be loaded at once (OLLAMA_MAX_LOADED_MODELS) and all are in use ({busy})",
                self.max_loaded
            ),
        }
    }
}

/// Decides how a model needing `need` bytes fits next to `resident` (which must not hold
/// the model itself): unload idle models least recently used first, only as many as it
/// takes, and only if that makes it fit; otherwise unload nothing (an unload that does not
/// let the new model in would only cost the next request to the unloaded one a reload).
pub fn plan(resident: &[Resident], need: u64, limits: Limits) -> Plan {
    if let Some(budget) = limits.memory.filter(|&b| need > b) {
        return Plan::TooLarge { need, budget };
    }
    let max_loaded = limits.max_loaded.max(1);
    let fits = |count: usize, used: u64| {
        count < max_loaded && limits.memory.is_none_or(|b| used.saturating_add(need) <= b)
    };
    let mut count = resident.len();
    let mut used: u64 = resident.iter().map(|r| r.footprint).sum();
    let mut idle: Vec<&Resident> = resident.iter().filter(|r| !r.busy).collect();
    idle.sort_by(|a, b| a.last_used.cmp(&b.last_used).then(a.name.cmp(&b.name)));
    let mut evict = Vec::new();
    for victim in idle {
        if fits(count, used) {
            break;
        }
        evict.push(victim.name.clone());
        count -= 1;
        used -= victim.footprint;
    }
    if fits(count, used) {
        return Plan::Fits { evict };
    }
    Plan::Wait(Shortfall {
        need,
        free: limits.memory.map(|b| b.saturating_sub(used)),
        budget: limits.memory,
        max_loaded,
        busy: resident
            .iter()
            .filter(|r| r.busy)
            .map(|r| r.name.clone())
            .collect(),
    })
}

/// A byte size as `ROLLAMA_MEMORY_BUDGET` takes it: a plain number of bytes, or a number
/// with a unit, binary (`KiB`, `MiB`, `GiB`, `TiB`) or decimal (`KB`, `MB`, `GB`, `TB`;
/// `K`, `M`, `G`, `T` alone are binary, as memory sizes usually mean). Case and spaces do
/// not matter; `1.5GiB` is fine.
pub fn parse_bytes(raw: &str) -> Result<u64, String> {
    let s = raw.trim().trim_matches(|c| c == '"' || c == '\'').trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("invalid memory size {raw:?}: expected e.g. 8GiB, 512MiB or bytes"))?;
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        other => {
            return Err(format!(
                "invalid memory size {raw:?}: unknown unit {other:?}"
            ))
        }
    };
    let bytes = value * scale as f64;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(format!("invalid memory size {raw:?}: too large"));
    }
    Ok(bytes.round() as u64)
}

/// `MemAvailable` of a `/proc/meminfo` text, in bytes: what the kernel says can be
/// allocated without swapping (free memory plus reclaimable caches).
pub fn mem_available(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let mut words = line.split_whitespace().skip(1);
    let value: u64 = words.next()?.parse().ok()?;
    match words.next() {
        Some("kB") => value.checked_mul(1024),
        None => Some(value),
        Some(_) => None,
    }
}

/// The machine's available memory now, from `/proc/meminfo`; `None` where it cannot be
/// read (not Linux).
pub fn system_available_memory() -> Option<u64> {
    mem_available(&std::fs::read_to_string("/proc/meminfo").ok()?)
}

/// Bytes as Ollama prints them (`format.HumanBytes2`): `1.5 GiB`, `300.0 MiB`, `12 B`.
pub fn human_bytes(b: u64) -> String {
    const KIB: u64 = 1 << 10;
    const MIB: u64 = 1 << 20;
    const GIB: u64 = 1 << 30;
    match b {
        b if b >= GIB => format!("{:.1} GiB", b as f64 / GIB as f64),
        b if b >= MIB => format!("{:.1} MiB", b as f64 / MIB as f64),
        b if b >= KIB => format!("{:.1} KiB", b as f64 / KIB as f64),
        b => format!("{b} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(name: &str, footprint: u64, busy: bool, last_used: u64) -> Resident {
        Resident {
            name: name.into(),
            footprint,
            busy,
            last_used,
        }
    }

    fn limits(max_loaded: usize, memory: Option<u64>) -> Limits {
        Limits { max_loaded, memory }
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_bytes("1024"), Ok(1024));
        assert_eq!(parse_bytes("512MiB"), Ok(512 << 20));
        assert_eq!(parse_bytes("8GiB"), Ok(8 << 30));
        assert_eq!(parse_bytes("8GB"), Ok(8_000_000_000));
        assert_eq!(parse_bytes(" 8 gib "), Ok(8 << 30));
        assert_eq!(parse_bytes("1.5G"), Ok(3 << 29));
        assert_eq!(parse_bytes("\"2KB\""), Ok(2000));
        assert_eq!(parse_bytes("64k"), Ok(64 << 10));
        assert!(parse_bytes("").is_err());
        assert!(parse_bytes("GiB").is_err());
        assert!(parse_bytes("8 parsecs").is_err());
        assert!(parse_bytes("-1").is_err());
        assert!(parse_bytes("99999999999TiB").is_err());
    }

    #[test]
    fn meminfo_parses() {
        let text = "MemTotal:       16303568 kB\nMemFree:         1000000 kB\nMemAvailable:    8000000 kB\n";
        assert_eq!(mem_available(text), Some(8_000_000 * 1024));
        assert_eq!(mem_available("MemTotal: 1 kB\n"), None);
    }

    #[test]
    fn human_bytes_as_ollama() {
        assert_eq!(human_bytes(12), "12 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(300 << 20), "300.0 MiB");
        assert_eq!(human_bytes(3 << 29), "1.5 GiB");
    }

    #[test]
    fn fits_without_eviction() {
        let res = [r("a", 100, false, 1)];
        assert_eq!(
            plan(&res, 100, limits(3, Some(200))),
            Plan::Fits { evict: vec![] }
        );
        assert_eq!(
            plan(&res, 1 << 40, limits(3, None)),
            Plan::Fits { evict: vec![] }
        );
    }

    #[test]
    fn count_limit_evicts_least_recently_used_idle() {
        let res = [r("a", 1, false, 5), r("b", 1, false, 2), r("c", 1, true, 1)];
        assert_eq!(
            plan(&res, 1, limits(3, None)),
            Plan::Fits {
                evict: vec!["b".into()]
            }
        );
        assert_eq!(
            plan(&res, 1, limits(2, None)),
            Plan::Fits {
                evict: vec!["b".into(), "a".into()]
            }
        );
    }

    #[test]
    fn memory_evicts_only_what_it_takes() {
        let res = [r("old", 100, false, 1), r("new", 100, false, 9)];
        assert_eq!(
            plan(&res, 150, limits(3, Some(300))),
            Plan::Fits {
                evict: vec!["old".into()]
            }
        );
    }

    #[test]
    fn busy_memory_means_waiting_and_nothing_evicted() {
        let res = [r("idle", 100, false, 1), r("busy", 200, true, 9)];
        match plan(&res, 200, limits(3, Some(300))) {
            Plan::Wait(s) => {
                assert_eq!(s.free, Some(100));
                assert_eq!(s.busy, vec!["busy".to_string()]);
                assert!(s.describe().contains("memory budget"), "{}", s.describe());
            }
            other => panic!("expected to wait, got {other:?}"),
        }
        let res = [r("busy", 1, true, 1)];
        match plan(&res, 1, limits(1, None)) {
            Plan::Wait(s) => assert!(s.describe().contains("OLLAMA_MAX_LOADED_MODELS")),
            other => panic!("expected to wait, got {other:?}"),
        }
    }

    #[test]
    fn larger_than_the_budget_fails_at_once() {
        assert_eq!(
            plan(&[], 301, limits(3, Some(300))),
            Plan::TooLarge {
                need: 301,
                budget: 300
            }
        );
    }
}
