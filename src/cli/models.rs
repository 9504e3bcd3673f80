//! `list`/`ls`, `ps`, `cp`, `rm`, `stop`: Ollama's `ListHandler`, `ListRunningHandler`,
//! `CopyHandler`, `DeleteHandler` and `StopHandler`, with their tables and messages.

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde_json::{json, Value};

use super::args::{CpArgs, ListArgs, RmArgs, StopArgs};
use super::format::{human_bytes, human_time};
use super::table::Table;
use super::wire::{ListResponse, ListedModel, ShowResponse};
use super::{CliError, Client};

pub async fn list(client: &Client, args: ListArgs) -> Result<(), CliError> {
    let resp: ListResponse = client.get("/api/tags").await?;
    print!("{}", list_table(&resp.models, args.prefix.as_deref()));
    Ok(())
}

/// `ollama list`'s table; the prefix is matched ignoring case.
pub fn list_table(models: &[ListedModel], prefix: Option<&str>) -> String {
    let mut table = Table::new().header(&["NAME", "ID", "SIZE", "MODIFIED"]);
    let prefix = prefix.map(str::to_lowercase);
    for m in models {
        if prefix
            .as_deref()
            .is_some_and(|p| !m.name.to_lowercase().starts_with(p))
        {
            continue;
        }
        table.row(vec![
            m.name.clone(),
            short_digest(&m.digest),
            human_bytes(m.size),
            human_time(&m.modified_at, "Never"),
        ]);
    }
    table.render()
}

pub async fn ps(client: &Client, args: ListArgs) -> Result<(), CliError> {
    let resp: ListResponse = client.get("/api/ps").await?;
    print!(
        "{}",
        ps_table(&resp.models, args.prefix.as_deref(), Utc::now())
    );
    Ok(())
}

/// `ollama ps`'s table; unlike `list`, its prefix is matched case-sensitively (as there).
pub fn ps_table(models: &[ListedModel], prefix: Option<&str>, now: DateTime<Utc>) -> String {
    let mut table = Table::new().header(&["NAME", "ID", "SIZE", "PROCESSOR", "CONTEXT", "UNTIL"]);
    for m in models {
        if prefix.is_some_and(|p| !m.name.starts_with(p)) {
            continue;
        }
        table.row(vec![
            m.name.clone(),
            short_digest(&m.digest),
            human_bytes(m.size),
            processor(m.size, m.size_vram),
            m.context_length.to_string(),
            until(&m.expires_at, now),
        ]);
    }
    table.render()
}

/// Where a loaded model's weights live, from how much of it is in VRAM.
pub fn processor(size: u64, size_vram: u64) -> String {
    match (size, size_vram) {
        (_, 0) => "100% CPU".into(),
        (s, v) if s == v => "100% GPU".into(),
        (s, v) if v > s || s == 0 => "Unknown".into(),
        (s, v) => {
            let cpu = ((s - v) as f64 / s as f64 * 100.0).round() as u64;
            format!("{cpu}%/{}% CPU/GPU", 100 - cpu)
        }
    }
}

/// When a loaded model unloads: "Stopping..." once the time is past (an unparsable time
/// reads as Go's zero time, long past), else "4 minutes from now" or "Forever".
fn until(expires_at: &str, now: DateTime<Utc>) -> String {
    match DateTime::parse_from_rfc3339(expires_at) {
        Ok(t) if t.with_timezone(&Utc) > now => {
            super::format::human_time_at(expires_at, "Never", now)
        }
        _ => "Stopping...".into(),
    }
}

/// `digest[:12]` (an Ollama server's digests are bare hex; a shorter one is kept whole
/// where Go would panic).
fn short_digest(digest: &str) -> String {
    digest.chars().take(12).collect()
}

pub async fn copy(client: &Client, args: CpArgs) -> Result<(), CliError> {
    let body = json!({"source": args.source, "destination": args.destination});
    let _: Value = client.post("/api/copy", &body).await?;
    println!("copied '{}' to '{}'", args.source, args.destination);
    Ok(())
}

pub async fn remove(client: &Client, args: RmArgs) -> Result<(), CliError> {
    for model in &args.models {
        // A loaded model is unloaded first so its memory goes with it; a model that is
        // not there is for the delete to report.
        if let Err(e) = unload(client, model).await {
            if !e.to_string().to_lowercase().contains("not found") {
                eprintln!("Warning: unable to stop model '{model}'");
            }
        }
        let _: Value = client
            .call(Method::DELETE, "/api/delete", &json!({"model": model}))
            .await?;
        println!("deleted '{model}'");
    }
    Ok(())
}

pub async fn stop(client: &Client, args: StopArgs) -> Result<(), CliError> {
    match unload(client, &args.model).await {
        Err(e) if e.to_string().contains("not found") => Err(CliError::Usage(format!(
            "couldn't find model \"{}\" to stop",
            args.model
        ))),
        other => other,
    }
}

/// Ollama's `loadOrUnloadModel` with `keep_alive: 0`: the model must exist (`/api/show`),
/// then an empty generate unloads it; one that is not loaded stays unloaded.
async fn unload(client: &Client, model: &str) -> Result<(), CliError> {
    let _: ShowResponse = client.post("/api/show", &json!({"model": model})).await?;
    let mut lines = client
        .stream("/api/generate", &json!({"model": model, "keep_alive": 0}))
        .await?;
    while let Some(line) = lines.next().await {
        line?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn model(name: &str, size: u64, vram: u64, expires: &str) -> ListedModel {
        ListedModel {
            name: name.into(),
            digest: "a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72".into(),
            size,
            size_vram: vram,
            context_length: 4096,
            expires_at: expires.into(),
            modified_at: "0001-01-01T00:00:00Z".into(),
            ..Default::default()
        }
    }

    #[test]
    fn processor_split_as_ollama_words_it() {
        assert_eq!(processor(100, 0), "100% CPU");
        assert_eq!(processor(100, 100), "100% GPU");
        assert_eq!(processor(100, 200), "Unknown");
        assert_eq!(processor(0, 5), "Unknown");
        assert_eq!(processor(1000, 520), "48%/52% CPU/GPU");
    }

    #[test]
    fn ps_rows_say_until_when() {
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap();
        let models = [
            model("a:latest", 134_000_000, 0, "2026-12-01T12:04:00.5Z"),
            model(
                "b:latest",
                2_000_000_000,
                2_000_000_000,
                "2026-12-01T11:59:00Z",
            ),
            model("c:latest", 1000, 0, "2318-01-01T00:00:00Z"),
        ];
        assert_eq!(
            ps_table(&models, None, now),
            "NAME        ID              SIZE      PROCESSOR    CONTEXT    UNTIL              \n\
             a:latest    a80c4f17acd5    134 MB    100% CPU     4096       4 minutes from now    \n\
             b:latest    a80c4f17acd5    2 GB      100% GPU     4096       Stopping...           \n\
             c:latest    a80c4f17acd5    1 KB      100% CPU     4096       Forever               \n"
        );
        // Case-sensitive prefix, as Ollama's ps.
        assert_eq!(ps_table(&models, Some("A"), now).lines().count(), 1);
        assert_eq!(ps_table(&models, Some("b"), now).lines().count(), 2);
    }

    #[test]
    fn list_prefix_ignores_case_and_zero_time_is_never() {
        let models = [
            model("Alpha:latest", 1500, 0, ""),
            model("beta:7b", 1, 0, ""),
        ];
        assert_eq!(
            list_table(&models, Some("alp")),
            "NAME            ID              SIZE      MODIFIED \n\
             Alpha:latest    a80c4f17acd5    1.5 KB    Never       \n"
        );
        assert_eq!(list_table(&models, None).lines().count(), 3);
    }
}
