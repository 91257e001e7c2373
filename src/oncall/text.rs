//! The words of a technician alert, in the venue's language: the box, what happened,
//! since when, the detail, and what to do. Never a guest's name or address.

use chrono::{DateTime, Utc};

use super::Condition;
use crate::show::Language;
use crate::store::Notice;

pub struct Msg {
    pub subject: String,
    pub text: String,
}

/// (title, what to do), Spanish then English.
fn words(c: Condition) -> [(&'static str, &'static str); 2] {
    match c {
        Condition::CameraLost => [
            (
                "La cámara no está conectada y hoy hay funciones",
                "Comprueba el cable USB, la batería y que la cámara esté encendida. \
                 `journalctl -u cosmosd` cuenta los intentos de recuperación.",
            ),
            (
                "The camera is not connected and shows are scheduled today",
                "Check the USB cable, the battery and that the camera is switched on. \
                 `journalctl -u cosmosd` tells the recovery attempts.",
            ),
        ],
        Condition::DiskLow => [
            (
                "Queda poco espacio en el disco de datos",
                "Las fotos nuevas se rechazan. Saca una copia de seguridad y libera espacio, \
                 o revisa la retención (privacy.retention_days).",
            ),
            (
                "The data disk is almost full",
                "New photos are refused. Take a backup and free some space, or check the \
                 retention (privacy.retention_days).",
            ),
        ],
        Condition::MailFailed => [
            (
                "Correos a invitados fallidos definitivamente",
                "El servidor de correo los rechazó o caducaron. Revisa la bandeja de salida en \
                 la consola del anfitrión y reenvíalos cuando esté resuelto.",
            ),
            (
                "Guest messages failed for good",
                "The mail relay refused them or they expired. Check the outbox in the host's \
                 console and send them again once it is fixed.",
            ),
        ],
        Condition::UplinkDown => [
            (
                "El servidor de correo no responde",
                "Los correos esperan en la cola sin perderse. Revisa la conexión a internet del \
                 local y los datos de [mail] en /etc/cosmos/cosmos.toml.",
            ),
            (
                "The mail relay cannot be reached",
                "Messages wait in the queue and are not lost. Check the venue's internet \
                 connection and the [mail] settings in /etc/cosmos/cosmos.toml.",
            ),
        ],
        Condition::BackupStale => [
            (
                "No hay copia de seguridad buena en 48 horas",
                "Comprueba que el disco de copias esté conectado o que el destino responda; \
                 `sudo systemctl start cosmosd-backup` lo intenta ahora.",
            ),
            (
                "No good backup for 48 hours",
                "Check that the backup drive is plugged in or the destination answers; \
                 `sudo systemctl start cosmosd-backup` tries now.",
            ),
        ],
        Condition::BackupFailed => [
            (
                "La última copia de seguridad falló",
                "Lee el motivo abajo y `journalctl -u cosmosd-backup`; \
                 `sudo systemctl start cosmosd-backup` lo intenta de nuevo.",
            ),
            (
                "The last backup failed",
                "Read the reason below and `journalctl -u cosmosd-backup`; \
                 `sudo systemctl start cosmosd-backup` tries again.",
            ),
        ],
        Condition::PurgeFailed => [
            (
                "La purga de datos de invitados falló",
                "Los datos caducados siguen en la caja. Lee `journalctl -u cosmosd`; la purga se \
                 repite cada día.",
            ),
            (
                "The guest-data purge failed",
                "Expired guest data is still on the box. Read `journalctl -u cosmosd`; the purge \
                 runs again every day.",
            ),
        ],
        Condition::UncleanRestart => [
            (
                "cosmosd se reinició tras una parada brusca",
                "Puede ser un fallo, un corte de luz o el watchdog. Lee \
                 `journalctl -u cosmosd -b -1` y `journalctl -u cosmosd --since -1h`.",
            ),
            (
                "cosmosd restarted after an unclean stop",
                "It may be a crash, a power cut or the watchdog. Read \
                 `journalctl -u cosmosd -b -1` and `journalctl -u cosmosd --since -1h`.",
            ),
        ],
        Condition::Undervoltage => [
            (
                "La placa recibe poca tensión o se frena",
                "Usa la fuente de alimentación oficial de la placa y un cable corto; \
                 la tarjeta SD y la cámara sufren con poca tensión.",
            ),
            (
                "The board is under-volted or throttled",
                "Use the board's own power supply and a short cable; the SD card and the \
                 camera suffer from low voltage.",
            ),
        ],
        Condition::TooHot => [
            (
                "La placa está demasiado caliente",
                "Dale aire: sácala de cajones cerrados, limpia el disipador o añade un \
                 ventilador.",
            ),
            (
                "The board is too hot",
                "Give it air: take it out of closed cabinets, clean the heatsink or add a fan.",
            ),
        ],
        Condition::LoginFlood => [
            (
                "Muchos PIN erróneos desde varios dispositivos",
                "Alguien puede estar probando PIN. Los inicios de sesión esperan un minuto;                  revisa quién está en la wifi del local y cambia los PIN si hace falta                  (auth.host_pin, auth.kiosk_pin).",
            ),
            (
                "Many wrong PINs from several devices",
                "Someone may be guessing PINs. Logins wait a minute; check who is on the                  venue Wi-Fi and change the PINs if needed (auth.host_pin, auth.kiosk_pin).",
            ),
        ],
    }
}

pub fn message(
    lang: Language,
    box_name: &str,
    c: Condition,
    notice: Notice,
    since: DateTime<Utc>,
    detail: &str,
) -> Msg {
    let es = lang == Language::Es;
    let [w_es, w_en] = words(c);
    let (title, todo) = if es { w_es } else { w_en };
    let local = since
        .with_timezone(&chrono::Local)
        .format("%Y-%m-%d %H:%M %:z")
        .to_string();
    let tag = match (notice, es) {
        (Notice::Started, true) => "Alerta",
        (Notice::Started, false) => "Alert",
        (Notice::Reminder, true) => "Sigue",
        (Notice::Reminder, false) => "Still on",
        (Notice::Ended, true) => "Resuelto",
        (Notice::Ended, false) => "Resolved",
    };
    let subject = format!("[COSMOS {box_name}] {tag}: {title}");
    let mut text = String::new();
    let line = |t: &mut String, k: &str, v: &str| {
        t.push_str(k);
        t.push_str(v);
        t.push('\n');
    };
    if es {
        line(&mut text, "Caja: ", box_name);
        line(&mut text, "Qué pasa: ", title);
        line(&mut text, "Desde: ", &local);
        match notice {
            Notice::Started => {}
            Notice::Reminder => text.push_str("Sigue pasando.\n"),
            Notice::Ended => text.push_str("Ya no pasa: no hace falta hacer nada.\n"),
        }
        if !detail.is_empty() {
            line(&mut text, "Detalle: ", detail);
        }
        if notice != Notice::Ended {
            line(&mut text, "\nQué hacer: ", todo);
        }
        text.push_str(
            "\n-- \nAviso automático de cosmosd para el equipo técnico ([alerts] en \
             /etc/cosmos/cosmos.toml).\n",
        );
    } else {
        line(&mut text, "Box: ", box_name);
        line(&mut text, "What: ", title);
        line(&mut text, "Since: ", &local);
        match notice {
            Notice::Started => {}
            Notice::Reminder => text.push_str("It is still going on.\n"),
            Notice::Ended => text.push_str("It is over: nothing to do.\n"),
        }
        if !detail.is_empty() {
            line(&mut text, "Detail: ", detail);
        }
        if notice != Notice::Ended {
            line(&mut text, "\nWhat to do: ", todo);
        }
        text.push_str(
            "\n-- \nAn automatic notice from cosmosd to the technical team ([alerts] in \
             /etc/cosmos/cosmos.toml).\n",
        );
    }
    Msg { subject, text }
}
