//! The `streamlease` binary: read settings, start logging, serve.

use std::io::Write;
use std::process::ExitCode;

use streamlease::config::{Refusal, Settings};
use streamlease::descriptors;
use streamlease::startup::Application;

// Each request allocates a little (headers, keys, the JSON answer), many
// thousands of times a second across threads; mimalloc serves that with
// fewer instructions than glibc's malloc (see docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let mut settings = match Settings::parse(std::env::args_os()) {
        Ok(settings) => settings,
        Err(Refusal::Asked(text)) => return say(&text, ExitCode::SUCCESS),
        Err(Refusal::AskedForRedisLibrary) => return say(streamlease::store::redis::library(), ExitCode::SUCCESS),
        Err(refused) => return complain(&refused.to_string()),
    };
    let open_files = descriptors::raise_open_file_limit();
    if let Some(Err(e)) = open_files.map(|n| descriptors::fit(&mut settings, n)) {
        return complain(&e.to_string());
    }
    streamlease::logging::init(&settings.log_filter);
    log::info!(
        "connections at most {} (open files {}, {} kept for Redis, metrics and refusals)",
        settings.http.max_connections,
        open_files.map_or("unknown".into(), |n| n.to_string()),
        descriptors::reserve(settings.workers),
    );
    let served = actix_web::rt::System::new().block_on(async {
        Application::build(settings)
            .await?
            .run_until_stopped()
            .await
            .map_err(streamlease::startup::StartupError::Server)
    });
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// Startup problems are one line on stderr and exit code 2.
fn complain(problem: &str) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "streamlease: {problem}");
    ExitCode::from(2)
}

fn say(text: &str, code: ExitCode) -> ExitCode {
    let _ = std::io::stdout().write_all(text.as_bytes());
    code
}
