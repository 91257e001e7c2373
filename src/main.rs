//! The `cosmosd` binary: parses the command line and hands over to the library.
//! Only `main` picks the exit code; errors are printed once, with their causes.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use cosmosd::config::Config;
use cosmosd::outbox::{GuestView, Templates};
use cosmosd::show::{Element, Energy, Language};
use cosmosd::{daemon, demo, logging};

#[derive(Parser)]
#[command(
    name = "cosmosd",
    version,
    about = "The daemon that runs the COSMOS show room"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon with a configuration file.
    Run {
        #[arg(long, value_name = "PATH")]
        config: PathBuf,
    },
    /// Check a configuration file and exit (0 = valid).
    CheckConfig {
        #[arg(value_name = "PATH")]
        path: PathBuf,
    },
    /// Hardware checks for the technician (stop the service first).
    Selftest {
        #[command(subcommand)]
        what: Selftest,
    },
    /// Turn every floor marker off (the service's stop hook: a crash also ends dark).
    LightsOff {
        #[arg(long, value_name = "PATH")]
        config: PathBuf,
    },
    /// Make the box-local CA (`ca.crt`, `ca.key` 0600) of `tls = "self-signed"` in DIR
    /// when it has none (the image's first boot; `init-config` does it too).
    InitCa {
        #[arg(value_name = "DIR", default_value = "/etc/cosmos")]
        dir: PathBuf,
    },
    /// Write a venue's first config with new secrets (the package's install step).
    InitConfig {
        #[arg(value_name = "PATH")]
        path: PathBuf,
        /// Simulated camera and lights (a box without them, e.g. the QEMU image).
        #[arg(long)]
        simulated: bool,
    },
    /// Copy the database (online, consistent), the photos, the mail copies and the
    /// configuration into a new folder DEST, with a SHA-256 manifest; encrypted to
    /// `backup.encrypt_to` when set. Safe while the daemon runs.
    /// With --scheduled (the systemd timer): a new set at `[backup] destination` with the
    /// configuration folder too, verified, then the sets beyond `backup.keep` removed.
    Backup {
        #[arg(long, value_name = "PATH", default_value = "/etc/cosmos/cosmosd.toml")]
        config: PathBuf,
        #[arg(long, conflicts_with = "dest")]
        scheduled: bool,
        #[arg(value_name = "DEST", required_unless_present = "scheduled")]
        dest: Option<PathBuf>,
    },
    /// Check a backup's manifest and put it in place of the data folder (stop the daemon
    /// first). The data it replaces is moved to `replaced-<time>/` in the data folder.
    /// SRC is a set, a folder of sets (the newest is taken), usb:LABEL or
    /// ssh://user@host[:port]/path (the newest set there is copied over first).
    Restore {
        #[arg(long, value_name = "PATH", default_value = "/etc/cosmos/cosmosd.toml")]
        config: PathBuf,
        /// The age key file that opens an encrypted set.
        #[arg(long, value_name = "FILE")]
        identity: Option<PathBuf>,
        /// Put the set's configuration back too (config folder, secret files, CA), in
        /// place of the config at --config: rebuilding a dead box.
        #[arg(long)]
        with_config: bool,
        /// ssh:// only: the key that logs in to the backup host (default: the config's
        /// backup.ssh_key).
        #[arg(long, value_name = "FILE")]
        ssh_key: Option<PathBuf>,
        /// ssh:// only: the backup host's keys (default: the config's backup.known_hosts).
        #[arg(long, value_name = "FILE")]
        known_hosts: Option<PathBuf>,
        #[arg(value_name = "SRC")]
        src: String,
    },
    /// Render an example guest's mail with the venue's templates into an .eml file.
    PreviewMail {
        /// Take the templates, essences and sender from this config (default: built-in).
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,
        /// Use the templates in this folder instead.
        #[arg(long, value_name = "DIR")]
        templates: Option<PathBuf>,
        /// es or en.
        #[arg(long, default_value = "es")]
        language: String,
        /// The sample guest's essence (an id of the configured list).
        #[arg(long, default_value = "colibrí")]
        essence: String,
        /// The sample guest's name.
        #[arg(long, default_value = "Lucía")]
        name: String,
        /// Where to write the message.
        #[arg(long, default_value = "cosmos-preview.eml")]
        out: PathBuf,
    },
    /// Run with the embedded default: simulated camera and lights, mail to files, data in a
    /// local folder, made-up PINs (printed). No hardware and no config file needed.
    Demo {
        /// Folder for the demo's config, database and mail.
        #[arg(long, default_value = "cosmosd-demo")]
        dir: PathBuf,
        /// Address to listen on (overrides the demo config's `server.listen`).
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
}

#[derive(Subcommand)]
enum Selftest {
    /// Detect the camera, print model and settings, take one photo, print timings.
    Camera {
        #[arg(long, value_name = "PATH")]
        config: PathBuf,
        /// Also write the photo and its derivatives into this folder.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Chase each floor marker in turn on the configured pins.
    Lights {
        #[arg(long, value_name = "PATH")]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cosmosd: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::CheckConfig { path } => {
            let c = Config::load(&path)?;
            let t = Templates::load(
                c.mail.templates_dir.as_deref(),
                &c.questionnaire.essences,
                cosmosd::outbox::retention_days(&c),
            )?;
            println!(
                "{}: ok (listen {}, data {}, camera {:?}, lights {:?} on {} markers, mail {}, templates {})",
                path.display(),
                c.server.listen,
                c.storage.data_dir.display(),
                c.camera.backend,
                c.lights.backend,
                c.lights.pins.len(),
                c.mail.transport.name(),
                t.source()
            );
            match cosmosd::camera::settings::check_against_body(&c.camera)? {
                None if !c.camera.settings.is_empty() => {
                    println!(
                        "camera.settings: not checked against a body (none answered, or not gphoto2)"
                    )
                }
                None => {}
                Some(errs) if errs.is_empty() => {
                    println!(
                        "camera.settings: the camera accepts all {} values",
                        c.camera.settings.len()
                    )
                }
                Some(errs) => {
                    for e in &errs {
                        eprintln!("{e}");
                    }
                    anyhow::bail!("{} camera setting(s) refused by the camera", errs.len());
                }
            }
            Ok(())
        }
        Command::PreviewMail {
            config,
            templates,
            language,
            essence,
            name,
            out,
        } => {
            let (dir, essences, from, days) = match config {
                Some(p) => {
                    let c = Config::load(&p)?;
                    let days = cosmosd::outbox::retention_days(&c);
                    (
                        c.mail.templates_dir,
                        c.questionnaire.essences,
                        c.mail.from,
                        days,
                    )
                }
                None => (
                    None,
                    cosmosd::show::default_essences(),
                    "COSMOS <cosmos@example.com>"
                        .parse()
                        .expect("the sample sender is a valid mailbox"),
                    // `privacy.retention_days`' documented default.
                    30,
                ),
            };
            let t = Templates::load(templates.as_deref().or(dir.as_deref()), &essences, days)?;
            let language = Language::parse(&language)
                .with_context(|| format!("--language `{language}` is not es or en"))?;
            if !essences.iter().any(|e| e.id == essence) {
                anyhow::bail!(
                    "--essence `{essence}` is not one of {}",
                    essences
                        .iter()
                        .map(|e| e.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            let guest = GuestView {
                name: &name,
                energy: Energy::Lunar,
                element: Element::Agua,
                essence: &essence,
                language,
            };
            let subject = cosmosd::outbox::preview(&t, &from, &guest, &out)?;
            println!(
                "{}: \"{subject}\" (templates {})",
                out.display(),
                t.source()
            );
            Ok(())
        }
        Command::Run { config: path } => {
            logging::init();
            let config = Config::load(&path)?;
            lights_off_on_panic(&config);
            // A database from a newer cosmosd (a rollback): name the backup to restore.
            let data_dir = config.storage.data_dir.clone();
            let explain = |e| cosmosd::upgrade::explain_refusal(e, &path, &data_dir);
            serve(config, |addr| {
                cosmosd::service::ready(addr);
                if let Some(period) = cosmosd::service::watchdog_period() {
                    let spawned = std::thread::Builder::new()
                        .name("watchdog".into())
                        .spawn(move || cosmosd::service::watchdog(addr, period));
                    if let Err(e) = spawned {
                        // No pings: systemd restarts us, which is the right outcome.
                        log::error!("cannot start the watchdog thread: {e}");
                    }
                }
            })
            .map_err(explain)
        }
        Command::InitCa { dir } => {
            let (_, made) = cosmosd::ca::ensure_ca(&dir)?;
            println!(
                "{}: {}",
                dir.join(cosmosd::ca::CA_CERT).display(),
                if made { "new box CA" } else { "box CA kept" }
            );
            Ok(())
        }
        Command::InitConfig { path, simulated } => {
            demo::init_config(&path, simulated)?;
            println!("{}: written with new PINs", path.display());
            // The box-local CA of `tls = "self-signed"`, beside the config.
            let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
            let dir = dir.unwrap_or(std::path::Path::new("."));
            let (_, made) = cosmosd::ca::ensure_ca(dir)?;
            println!(
                "{}: {} (tablets trust it once: http://<box>:8080/trust)",
                dir.join(cosmosd::ca::CA_CERT).display(),
                if made { "new box CA" } else { "box CA kept" }
            );
            Ok(())
        }
        Command::Backup {
            config: path,
            scheduled: true,
            ..
        } => {
            let config = Config::load(&path)?;
            let done = cosmosd::backup::scheduled(&config, &path, chrono::Utc::now())?;
            println!(
                "{}: {} guests, {} shows, {} photos; {} files, {} bytes; verified{}",
                done.set.display(),
                done.summary.guests,
                done.summary.shows,
                done.summary.photos,
                done.summary.files,
                done.summary.bytes,
                if done.pruned.is_empty() {
                    String::new()
                } else {
                    format!("; removed {}", done.pruned.join(", "))
                }
            );
            Ok(())
        }
        Command::Backup {
            config: path, dest, ..
        } => {
            let dest = dest.context("give DEST, or --scheduled")?;
            let config = Config::load(&path)?;
            let s = cosmosd::backup::backup_with(&config, &dest, Some(&path))?;
            println!(
                "{}: {} guests, {} shows, {} photos; {} files, {} bytes (check: cd {} && sha256sum -c {})",
                dest.display(),
                s.guests,
                s.shows,
                s.photos,
                s.files,
                s.bytes,
                dest.display(),
                cosmosd::backup::MANIFEST
            );
            for m in &s.missing {
                eprintln!("warning: {m} was not on disk (not in the backup)");
            }
            Ok(())
        }
        Command::Restore {
            config,
            identity,
            with_config,
            ssh_key,
            known_hosts,
            src,
        } => {
            let done = cosmosd::backup::restore_set(&cosmosd::backup::RestoreOptions {
                config_path: config,
                src,
                identity,
                with_config,
                ssh_key,
                known_hosts,
            })?;
            let s = &done.summary;
            println!(
                "{} restored{}: {} guests, {} shows, {} photos; {} files checked",
                done.set,
                if done.sealed { " (decrypted)" } else { "" },
                s.guests,
                s.shows,
                s.photos,
                s.files
            );
            for f in &done.config_files {
                println!("  config: {}", f.display());
            }
            Ok(())
        }
        Command::LightsOff { config } => {
            let config = Config::load(&config)?;
            cosmosd::selftest::lights_off(&config)
        }
        Command::Selftest {
            what: Selftest::Lights { config },
        } => {
            logging::init();
            let config = Config::load(&config)?;
            cosmosd::selftest::lights(&config)
        }
        Command::Selftest {
            what: Selftest::Camera { config, out },
        } => {
            logging::init();
            let config = Config::load(&config)?;
            cosmosd::selftest::camera(&config, out.as_deref())
        }
        Command::Demo { dir, listen } => {
            logging::init();
            let (mut config, path) = demo::prepare(&dir)?;
            if let Some(l) = listen {
                config.server.listen = l;
            }
            let pins = format!(
                "  host PIN:            {}\n  kiosk PIN:           {}\n  technician password: {}\n  show-control token:  {}",
                config.auth.host_pin.expose(),
                config.auth.kiosk_pin.expose(),
                config.auth.technician_password.expose(),
                config
                    .auth
                    .show_control_token
                    .as_ref()
                    .map(|t| t.expose())
                    .unwrap_or("-"),
            );
            let config_path = path.display().to_string();
            serve(config, move |addr| {
                println!(
                    "cosmosd demo running at http://{addr}  (Ctrl-C stops it)\n  kiosk: http://{addr}/kiosk   host console: http://{addr}/host\n  try: curl http://{addr}/api/health\n{pins}\n  config: {config_path}"
                );
            })
        }
    }
}

/// A panic anywhere turns the floor markers off before the usual report: the lights are
/// never left on by accident.
fn lights_off_on_panic(config: &Config) {
    let lights = config.lights.clone();
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = cosmosd::lights::force_off(&lights);
        default(info);
    }));
}

/// Binds the configured address and runs the daemon until SIGTERM or Ctrl-C.
fn serve(config: Config, ready: impl FnOnce(SocketAddr)) -> anyhow::Result<()> {
    let listener = TcpListener::bind(config.server.listen)
        .with_context(|| format!("listening on {} (server.listen)", config.server.listen))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("cosmosd-rt")
        .build()
        .context("starting the async runtime")?;
    let devices = daemon::Devices::from_config(&config)?;
    rt.block_on(async {
        let shutdown = shutdown_signal()?;
        daemon::run(config, devices, listener, shutdown, ready).await
    })
}

/// Resolves on SIGTERM (systemd stop) or SIGINT (Ctrl-C).
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => log::info!(signal = "SIGTERM"; "stop requested"),
            _ = int.recv() => log::info!(signal = "SIGINT"; "stop requested"),
        }
        cosmosd::service::stopping();
    })
}
