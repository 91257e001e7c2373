// The host console's words, in Spanish (the default) and English: labels, state names,
// and the plain sentence for each API error `code`. The page never shows the API's own
// message text, ids or UTC times: hosts read these instead.
"use strict";

const HostText = (() => {
  const LANG_KEY = "cosmos.host.lang";
  let lang = localStorage.getItem(LANG_KEY) === "en" ? "en" : "es";

  const words = {
    es: {
      title: "COSMOS · Consola de sala", offline: "sin conexión", live: "en directo", reconnecting: "reconectando…",
      logout: "Salir", login_title: "Entrar a la consola de sala", pin: "PIN de la consola", login: "Entrar",
      room: "Sala", summary: "Resumen", views: "Vistas", banner: "Necesita atención", ack: "Entendido",
      live_show: "Show en curso", no_live: "Ningún show en marcha ahora.",
      waitlist: "Lista de espera", waiting_guests: "Personas en espera", nobody: "No hay nadie esperando.",
      picked: (n, max) => `${n} de ${max} personas elegidas como máximo.`, start: "Hora de inicio",
      next_slot: (t, m) => `Siguiente hueco libre: ${t} (${m} min).`, create: "Crear show",
      pick_one: "Elige al menos una persona.", upcoming: "Próximos shows", no_upcoming: "No hay shows programados.",
      done_shows: (n) => `Shows terminados (${n})`, details: "Ficha", guests_of: "Personas",
      s_scheduled: "Programado", s_running: "En marcha", s_posing: "Posando", s_review: "Revisando fotos",
      s_completed: "Terminado", s_cancelled: "Cancelado",
      sp_pending: "todavía no", sp_taking: "haciéndose ahora", sp_taken: "hecha", sp_failed: "falló",
      sp_failed_help: "La cámara no respondió a tiempo. Puedes repetirla con «Foto espontánea» mientras el show sigue.",
      spontaneous: "Foto espontánea: ", spontaneous_now: "Hacer la foto espontánea ahora",
      a_start: "Empezar", a_pose: "Posar", a_capture: "Hacer la foto", a_retake: "Repetir la foto",
      a_finish: "Terminar y enviar", a_spontaneous: "Foto espontánea", a_cancel: "Cancelar el show…",
      a_edit: "Cambiar hora o personas…", a_approve: "Aprobar", a_approve_all: "Aprobar todas",
      a_delete: "Borrar…", a_photo: "Foto", photo_of: (k) => (k === "posed" ? "Foto posada" : "Foto espontánea"),
      ph_pending: "sin revisar", ph_approved: "aprobada", zoom: "Ampliar", close: "Cerrar",
      countdown_busy: "Cuenta atrás: espera a que salga la foto.",
      cancel_q: "¿Cancelar este show?",
      cancel_body: "Las personas del show vuelven a la lista de espera y las fotos de este show se pierden.",
      cancel_yes: "Sí, cancelar el show", keep: "No, seguir",
      undo_note: (s) => `El show se cancelará en ${s} s. Hasta entonces puedes deshacerlo.`,
      undo: "Deshacer", undone: "No se ha cancelado: el show sigue.",
      delete_q: "¿Borrar esta foto?", delete_body: "La foto se borra de la caja y no se podrá recuperar.",
      delete_yes: "Sí, borrar la foto",
      outbox: "Correos", send_now: "Enviar ahora", m_queued: "en cola", m_sent: "enviado", m_failed: "falló",
      counts: (c) => `${c.queued} en cola · ${c.sent} enviados · ${c.failed} fallidos`,
      up_up: "correo conectado", up_down: "sin conexión con el correo", up_unknown: "correo: nada enviado todavía",
      up_file: "correo guardado en la caja (prueba)", failed_n: (n) => `${n} con fallo`,
      to: "Para", tries: (n) => `${n} intento${n === 1 ? "" : "s"}`, no_mail: "Todavía no hay correos.",
      retry: "Reintentar", resend: "Reenviar", fix_address: "Corregir dirección",
      guest: "Persona", name: "Nombre", email: "Correo", language: "Idioma", answers: "Respuestas",
      status: "Estado", energy: "Energía", element: "Elemento", essence: "Esencia",
      g_waiting: "en espera", g_assigned: "en un show", g_done: "show terminado", g_cancelled: "se dio de baja",
      save: "Guardar", saved: "Guardado.", saved_resent: "Guardado y reenviado a la nueva dirección.",
      leave: "Quitar de la lista…", erase: "Borrar sus datos…",
      leave_q: "¿Quitar a esta persona de la lista de espera?", leave_yes: "Sí, quitar",
      erase_q: "¿Borrar todos los datos de esta persona?",
      erase_body: "Se borran su nombre, correo, respuestas y mensajes. No se puede deshacer.",
      erase_yes: "Sí, borrar sus datos", lang_es: "Español", lang_en: "Inglés",
      edit_show: "Cambiar el show", time: "Hora", which_guests: "Personas del show",
      stats_title: "Resumen de hoy", stats_none: "Todavía no hay números para hoy.",
      st_guests_registered: "Personas registradas", st_shows_completed: "Shows terminados",
      st_shows_cancelled: "Shows cancelados", st_photos_taken: "Fotos hechas", st_retakes: "Fotos repetidas",
      st_photos_deleted: "Fotos borradas", st_mails_sent: "Correos enviados", st_mails_failed: "Correos fallidos",
      st_mails_queued: "Correos en cola", st_capture_failures: "Fallos de cámara", chart: "Los últimos 7 días",
      al_camera_offline: "La cámara no está conectada: comprueba el cable USB y que esté encendida.",
      // -- camera check (issue 14) --
      chk_title: "Cámara", chk_run: "Comprobar la cámara", chk_running: "Comprobando…",
      chk_wait: "La cámara está haciendo una foto de prueba. No es una foto de nadie y no se guarda.",
      chk_prompt: "Todavía no se ha comprobado la cámara hoy: compruébala antes del primer show.",
      chk_again: "Puedes volver a comprobar la cámara cuando quieras.",
      chk_ready: "La cámara está lista para el show.",
      chk_not_ready: "La cámara no está lista. Revisa esto antes del show:",
      chk_battery: (n) => `Batería: ${n} %`, chk_free: (n) => `Caben ${n} fotos más en la tarjeta`,
      chk_format: (f) => `Formato: ${f}`, chk_frame_alt: "Foto de prueba de la cámara",
      chk_p_too_dark: "La foto de prueba sale demasiado oscura: falta luz en la sala o hay que ajustar la exposición.",
      chk_p_too_bright: "La foto de prueba sale demasiado clara: sobra luz o hay que ajustar la exposición.",
      chk_p_shadows_clipped: "Gran parte de la foto sale negra: ¿está tapado el objetivo?",
      chk_p_highlights_clipped: "Gran parte de la foto sale blanca: hay demasiada luz de frente.",
      chk_p_not_sharp: "La foto de prueba no sale nítida: revisa el enfoque y que el objetivo esté destapado.",
      chk_p_battery_low: "A la batería de la cámara le queda poco: cárgala o conecta el adaptador.",
      chk_p_card_full: "La tarjeta de la cámara está casi llena: avisa al técnico.",
      chk_p_raw_only: "La cámara guarda solo en RAW: avisa al técnico para que la ponga en JPEG.",
      chk_p_setting_refused: "La cámara no acepta uno de sus ajustes: avisa al técnico.",
      chk_p_setting_drifted: "Alguien cambió un ajuste de la cámara: se vuelve a poner al empezar el show.",
      chk_p_other: "Hay algo más que revisar en la cámara: avisa al técnico.",
      // -- end camera check --
      // -- camera recovery ladder (issue 14) --
      cam_reconnecting: "Reconectando la cámara…",
      // -- end camera recovery ladder --
      // cam-settings (issue 14): settings drift
      al_camera_drift: "Alguien cambió un ajuste de la cámara: se vuelve a poner al empezar la próxima sesión.",
      al_spontaneous_failed: "La foto espontánea de un show no se hizo: la cámara no respondió. Se puede repetir mientras el show sigue.",
      al_capture_failed: "Una foto posada no se pudo hacer: la cámara no respondió.",
      al_disk_low: "El disco de la caja está casi lleno: avisa al técnico.",
      al_mail_failing: "Hay correos que no salen: mira la sección Correos.",
      al_photo_files_missing: "Faltan archivos de fotos en la caja: avisa al técnico.",
    },
    en: {
      title: "COSMOS · Host", offline: "offline", live: "live", reconnecting: "reconnecting…",
      logout: "Log out", login_title: "Host login", pin: "Host PIN", login: "Log in",
      room: "Room", summary: "Summary", views: "Views", banner: "Needs attention", ack: "Got it",
      live_show: "Show in progress", no_live: "No show is running now.",
      waitlist: "Waitlist", waiting_guests: "Waiting guests", nobody: "Nobody is waiting.",
      picked: (n, max) => `${n} of at most ${max} guests picked.`, start: "Start time",
      next_slot: (t, m) => `Next free slot: ${t} (${m} min).`, create: "Create show",
      pick_one: "Pick at least one guest.", upcoming: "Coming shows", no_upcoming: "No shows scheduled.",
      done_shows: (n) => `Finished shows (${n})`, details: "Details", guests_of: "Guests",
      s_scheduled: "Scheduled", s_running: "Running", s_posing: "Posing", s_review: "Reviewing photos",
      s_completed: "Finished", s_cancelled: "Cancelled",
      sp_pending: "not yet", sp_taking: "being taken", sp_taken: "taken", sp_failed: "failed",
      sp_failed_help: "The camera did not answer in time. Try again with «Spontaneous photo» while the show runs.",
      spontaneous: "Spontaneous photo: ", spontaneous_now: "Take the spontaneous photo now",
      a_start: "Start", a_pose: "Pose", a_capture: "Take the photo", a_retake: "Retake the photo",
      a_finish: "Finish and send", a_spontaneous: "Spontaneous photo", a_cancel: "Cancel the show…",
      a_edit: "Change time or guests…", a_approve: "Approve", a_approve_all: "Approve all",
      a_delete: "Delete…", a_photo: "Photo", photo_of: (k) => (k === "posed" ? "Posed photo" : "Spontaneous photo"),
      ph_pending: "not reviewed", ph_approved: "approved", zoom: "Zoom", close: "Close",
      countdown_busy: "Countdown: wait for the photo.",
      cancel_q: "Cancel this show?",
      cancel_body: "The guests go back to the waitlist and this show's photos are lost.",
      cancel_yes: "Yes, cancel the show", keep: "No, keep it",
      undo_note: (s) => `The show will be cancelled in ${s} s. Until then you can undo.`,
      undo: "Undo", undone: "Not cancelled: the show goes on.",
      delete_q: "Delete this photo?", delete_body: "The photo is removed from the box for good.",
      delete_yes: "Yes, delete the photo",
      outbox: "Mail", send_now: "Send now", m_queued: "queued", m_sent: "sent", m_failed: "failed",
      counts: (c) => `${c.queued} queued · ${c.sent} sent · ${c.failed} failed`,
      up_up: "mail connected", up_down: "mail server unreachable", up_unknown: "mail: nothing sent yet",
      up_file: "mail kept on the box (test)", failed_n: (n) => `${n} failed`,
      to: "To", tries: (n) => `${n} attempt${n === 1 ? "" : "s"}`, no_mail: "No mail yet.",
      retry: "Retry", resend: "Send again", fix_address: "Fix address",
      guest: "Guest", name: "Name", email: "Email", language: "Language", answers: "Answers",
      status: "Status", energy: "Energy", element: "Element", essence: "Essence",
      g_waiting: "waiting", g_assigned: "in a show", g_done: "show finished", g_cancelled: "left",
      save: "Save", saved: "Saved.", saved_resent: "Saved and sent again to the new address.",
      leave: "Remove from the waitlist…", erase: "Erase their data…",
      leave_q: "Remove this guest from the waitlist?", leave_yes: "Yes, remove",
      erase_q: "Erase all of this guest's data?",
      erase_body: "Their name, email, answers and messages are erased. This cannot be undone.",
      erase_yes: "Yes, erase their data", lang_es: "Spanish", lang_en: "English",
      edit_show: "Change the show", time: "Time", which_guests: "The show's guests",
      stats_title: "Today's summary", stats_none: "No numbers for today yet.",
      st_guests_registered: "Guests registered", st_shows_completed: "Shows finished",
      st_shows_cancelled: "Shows cancelled", st_photos_taken: "Photos taken", st_retakes: "Retakes",
      st_photos_deleted: "Photos deleted", st_mails_sent: "Mails sent", st_mails_failed: "Mails failed",
      st_mails_queued: "Mails queued", st_capture_failures: "Camera failures", chart: "The last 7 days",
      al_camera_offline: "The camera is not connected: check its USB cable and that it is switched on.",
      // -- camera check (issue 14) --
      chk_title: "Camera", chk_run: "Check the camera", chk_running: "Checking…",
      chk_wait: "The camera is taking a test photo. It is nobody's photo and it is not kept.",
      chk_prompt: "The camera has not been checked today: check it before the first show.",
      chk_again: "You can check the camera again at any time.",
      chk_ready: "The camera is ready for the show.",
      chk_not_ready: "The camera is not ready. Look at this before the show:",
      chk_battery: (n) => `Battery: ${n}%`, chk_free: (n) => `Room for ${n} more photos on the card`,
      chk_format: (f) => `Format: ${f}`, chk_frame_alt: "The camera's test photo",
      chk_p_too_dark: "The test photo is too dark: the room needs more light or the exposure needs adjusting.",
      chk_p_too_bright: "The test photo is too bright: there is too much light or the exposure needs adjusting.",
      chk_p_shadows_clipped: "Much of the photo is black: is the lens covered?",
      chk_p_highlights_clipped: "Much of the photo is white: there is too much light from the front.",
      chk_p_not_sharp: "The test photo is not sharp: check the focus and that the lens cap is off.",
      chk_p_battery_low: "The camera's battery is low: charge it or plug in the adapter.",
      chk_p_card_full: "The camera's card is nearly full: tell the technician.",
      chk_p_raw_only: "The camera saves RAW only: ask the technician to set it to JPEG.",
      chk_p_setting_refused: "The camera refuses one of its settings: tell the technician.",
      chk_p_setting_drifted: "Someone changed a camera setting: it is set back when the show starts.",
      chk_p_other: "Something else needs a look on the camera: tell the technician.",
      // -- end camera check --
      // -- camera recovery ladder (issue 14) --
      cam_reconnecting: "Reconnecting the camera…",
      // -- end camera recovery ladder --
      // cam-settings (issue 14): settings drift
      al_camera_drift: "Someone changed a camera setting: it is set back when the next show starts.",
      al_spontaneous_failed: "A show's spontaneous photo was not taken: the camera did not answer. It can be tried again while the show runs.",
      al_capture_failed: "A posed photo could not be taken: the camera did not answer.",
      al_disk_low: "The box's disk is almost full: tell the technician.",
      al_mail_failing: "Some mail is not going out: see the Mail section.",
      al_photo_files_missing: "Photo files are missing on the box: tell the technician.",
    },
  };

  // One plain sentence per API error code; `x` carries what the sentence needs.
  const errors = {
    es: {
      network: "No se pudo contactar con la caja. Comprueba la wifi y vuelve a intentarlo.",
      bad_credentials: "El PIN no es correcto.",
      too_many_attempts: "Demasiados intentos fallidos. Espera un minuto y vuelve a probar.",
      missing_token: "La sesión terminó: vuelve a entrar.", invalid_token: "La sesión terminó: vuelve a entrar.",
      forbidden: "Este PIN no permite hacer esto.",
      show_overlap: (x) => x.from
        ? `Esa hora choca con el show de ${x.from} a ${x.to} (más el tiempo de cambio).` + (x.next ? ` Siguiente hueco libre: ${x.next}.` : "")
        : "Esa hora choca con otro show.",
      start_in_past: "Esa hora ya pasó: elige una hora futura.",
      too_many_guests: "Son demasiadas personas para un show.",
      duplicate_guest: "Una persona está elegida dos veces.",
      unknown_guest: "Una de las personas ya no está; la lista se ha actualizado.",
      guest_in_show: "Esa persona ya está en otro show.",
      guest_not_waiting: "Esa persona ya no está en la lista de espera.",
      guest_not_editable: "La caja no deja cambiar a esta persona porque su show ya terminó.",
      guest_done: "El show de esta persona ya terminó.",
      guest_cancelled: "Esta persona se dio de baja: ya no se puede cambiar.",
      guest_in_running_show: "No se puede borrar mientras su show está en marcha.",
      duplicate_waiting_email: "Ya hay alguien en espera con ese correo.",
      show_not_scheduled: "El show ya empezó: ya no se puede cambiar.",
      illegal_transition: "Eso no se puede hacer en este momento del show.",
      another_show_live: "Hay otro show en marcha: termínalo antes de empezar este.",
      show_not_running: "El show no está en marcha.",
      spontaneous_in_progress: "La foto espontánea se está haciendo ahora mismo.",
      spontaneous_taken: "La foto espontánea ya está hecha.",
      spontaneous_not_claimed: "La foto espontánea no se pudo hacer ahora; vuelve a intentarlo.",
      show_closed: "Este show ya está cerrado.",
      photos_pending_review: "Aprueba o borra cada foto antes de terminar.",
      show_changed: "El show cambió mientras tanto; vuelve a intentarlo.",
      countdown_interrupted: "La cuenta atrás se cortó porque el show cambió.",
      mail_not_failed: "Ese correo no ha fallado: no hace falta reintentarlo.",
      mail_queued: "Ese correo aún está en cola: espera a que salga o falle.",
      camera_unavailable: "La cámara no respondió. Comprueba que está encendida y conectada, y vuelve a intentarlo.",
      // cam-settings (issue 14): focus failure
      camera_focus_failed: "La cámara no pudo enfocar: comprueba la luz y que no haya nada delante del objetivo, y vuelve a intentarlo.",
      camera_busy: "La cámara está ocupada. Espera unos segundos y vuelve a intentarlo.",
      camera_card_full: "La tarjeta de la cámara está llena. Avisa al técnico.",
      camera_failed: "La cámara no respondió bien (la foto salió ilegible). Vuelve a intentarlo.",
      disk_full: "El disco de la caja está lleno: la foto no se guardó. Avisa al técnico.",
      storage_full: "El disco de la caja está lleno: no se guardó nada. Avisa al técnico.",
      invalid_email: "Esa dirección de correo no es válida.", invalid_name: "Escribe un nombre.",
      invalid_start_time: "Esa hora no es válida.", invalid_value: "Algún dato no es válido.",
      missing_field: "Falta un dato.", not_found: "Ya no existe (quizá lo borró otra persona).",
      internal: "La caja tuvo un fallo interno. Vuelve a intentarlo; si se repite, avisa al técnico.",
      unknown: (x) => `No se pudo hacer (error ${x.status}). Vuelve a intentarlo.`,
    },
    en: {
      network: "Could not reach the box. Check the Wi-Fi and try again.",
      bad_credentials: "That PIN is not right.",
      too_many_attempts: "Too many failed tries. Wait a minute and try again.",
      missing_token: "The session ended: log in again.", invalid_token: "The session ended: log in again.",
      forbidden: "This PIN may not do that.",
      show_overlap: (x) => x.from
        ? `That time clashes with the show from ${x.from} to ${x.to} (plus the changeover).` + (x.next ? ` Next free slot: ${x.next}.` : "")
        : "That time clashes with another show.",
      start_in_past: "That time has passed: pick a later one.",
      too_many_guests: "Too many guests for one show.",
      duplicate_guest: "A guest is picked twice.",
      unknown_guest: "One of the guests is gone; the list has been refreshed.",
      guest_in_show: "That guest is already in another show.",
      guest_not_waiting: "That guest is no longer waiting.",
      guest_not_editable: "The box does not let you change this guest: their show has finished.",
      guest_done: "This guest's show has finished.",
      guest_cancelled: "This guest left: they can no longer be changed.",
      guest_in_running_show: "Cannot erase while their show is running.",
      duplicate_waiting_email: "Someone with that email is already waiting.",
      show_not_scheduled: "The show has started: it can no longer be changed.",
      illegal_transition: "That cannot be done at this point of the show.",
      another_show_live: "Another show is running: finish it before starting this one.",
      show_not_running: "The show is not running.",
      spontaneous_in_progress: "The spontaneous photo is being taken right now.",
      spontaneous_taken: "The spontaneous photo is already taken.",
      spontaneous_not_claimed: "The spontaneous photo could not be taken now; try again.",
      show_closed: "This show is closed.",
      photos_pending_review: "Approve or delete every photo before finishing.",
      show_changed: "The show changed meanwhile; try again.",
      countdown_interrupted: "The countdown stopped because the show changed.",
      mail_not_failed: "That mail has not failed: no need to retry.",
      mail_queued: "That mail is still queued: wait until it goes out or fails.",
      camera_unavailable: "The camera did not answer. Check it is on and plugged in, then try again.",
      // cam-settings (issue 14): focus failure
      camera_focus_failed: "The camera could not focus: check the light and that nothing blocks the lens, then try again.",
      camera_busy: "The camera is busy. Wait a few seconds and try again.",
      camera_card_full: "The camera's card is full. Tell the technician.",
      camera_failed: "The camera did not answer properly (an unreadable photo). Try again.",
      disk_full: "The box's disk is full: the photo was not kept. Tell the technician.",
      storage_full: "The box's disk is full: nothing was saved. Tell the technician.",
      invalid_email: "That email address is not valid.", invalid_name: "Write a name.",
      invalid_start_time: "That time is not valid.", invalid_value: "Something is not valid.",
      missing_field: "Something is missing.", not_found: "It is gone (perhaps someone else removed it).",
      internal: "The box hit an internal fault. Try again; if it repeats, tell the technician.",
      unknown: (x) => `That did not work (error ${x.status}). Try again.`,
    },
  };

  // Why a mail failed, from the relay's answer, in words a host can act on.
  const mailReasons = {
    es: { address: "La dirección no existe o el servidor de correo de la persona la rechaza: revisa el correo.",
      relay: "El servidor de correo no respondió; la caja lo reintentará.",
      expired: "Se dejó de intentar tras muchas horas sin conexión.",
      other: "El servidor de correo no lo aceptó." },
    en: { address: "The address does not exist or the guest's server refuses it: check the email.",
      relay: "The mail server did not answer; the box will try again.",
      expired: "Given up after many hours without a connection.",
      other: "The mail server did not accept it." },
  };

  // health's `problems` come as English sentences; Spanish hosts get them in Spanish.
  // Unknown sentences are shown as they are (marked lang="en").
  const problemsEs = [
    // camera recovery ladder (issue 14): the ladder ran out.
    [/^The camera stopped answering and every recovery step failed/, () => "La cámara dejó de responder y ningún paso para recuperarla funcionó: apágala y enciéndela, y comprueba su batería y el cable USB; se reconecta sola."],
    [/^The camera is (?:dis|not )connected/, () => "La cámara no está conectada: comprueba el cable USB y que esté encendida."],
    [/^The data disk is almost full(?: \((\d+) MB free\))?/, (m) => "El disco de la caja está casi lleno" + (m[1] ? ` (${m[1]} MB libres)` : "") + ": no se pueden hacer fotos."],
    [/^The data disk cannot be read/, () => "No se puede leer el disco de la caja. Avisa al técnico."],
    [/^The database does not answer/, () => "La base de datos no responde. Avisa al técnico."],
    [/^The mail relay is unreachable.*?(\d+) messages wait/, (m) => `No hay conexión con el servidor de correo: ${m[1]} correos esperan en la cola.`],
    [/^(\d+) messages failed/, (m) => `${m[1]} correos fallaron: mira la sección Correos.`],
    [/^(\d+) photo(?:s')? files are missing/, (m) => `Faltan ${m[1]} archivos de fotos en la caja.`],
    [/^The retention purge failed/, () => "El borrado automático de datos antiguos falló. Avisa al técnico."],
    [/^(?:Alert: )?(?:the )?spontaneous photo/i, () => "La foto espontánea no se hizo: la cámara no respondió. Se puede repetir mientras el show sigue."],
    [/^A posed photo could not be taken/, () => "Una foto posada no se pudo hacer: la cámara no respondió."],
  ];

  // -- live framing (issue 14): the posing step's live camera (host-liveview.js) --
  Object.assign(words.es, {
    lv_title: "Cámara en vivo", lv_alt: "Lo que ve la cámara ahora",
    lv_off: "La imagen en vivo está apagada.", lv_connecting: "Conectando con la cámara…",
    lv_live: "En vivo: encuadra a las personas antes de hacer la foto.",
    lv_capture: "La imagen en vivo se para mientras se hace la foto.",
    lv_ended: "La imagen en vivo se paró sola. Pulsa «Ver la cámara» para seguir viéndola.",
    lv_lost: "Se cortó la imagen en vivo. Pulsa «Ver la cámara» para volver a verla.",
    lv_no_liveview: "Esta cámara no puede mostrar imagen en vivo: encuadra mirando por el visor de la cámara.",
    lv_busy_elsewhere: "La imagen en vivo ya está abierta en otra pantalla. Ciérrala allí y vuelve a intentarlo.",
    lv_camera_busy: "La cámara está haciendo una foto. Vuelve a intentarlo en unos segundos.",
    lv_unavailable: "La cámara no está disponible ahora: comprueba que está encendida y conectada, y vuelve a intentarlo.",
    lv_network: "No se pudo contactar con la caja. Comprueba la wifi y vuelve a intentarlo.",
    lv_start: "Ver la cámara", lv_stop: "Apagar la imagen", lv_retry: "Intentar otra vez",
  });
  Object.assign(words.en, {
    lv_title: "Live camera", lv_alt: "What the camera sees now",
    lv_off: "The live image is off.", lv_connecting: "Connecting to the camera…",
    lv_live: "Live: frame the guests before taking the photo.",
    lv_capture: "The live image pauses while the photo is taken.",
    lv_ended: "The live image stopped by itself. Press «Show the camera» to keep watching.",
    lv_lost: "The live image was cut off. Press «Show the camera» to see it again.",
    lv_no_liveview: "This camera cannot show a live image: frame the photo through the camera's viewfinder.",
    lv_busy_elsewhere: "The live image is already open on another screen. Close it there and try again.",
    lv_camera_busy: "The camera is taking a photo. Try again in a few seconds.",
    lv_unavailable: "The camera is not available now: check it is on and plugged in, then try again.",
    lv_network: "The box could not be reached. Check the wifi and try again.",
    lv_start: "Show the camera", lv_stop: "Turn the image off", lv_retry: "Try again",
  });
  // -- end live framing --

  function t(key, ...args) {
    const v = words[lang][key];
    if (v === undefined) return key;
    return typeof v === "function" ? v(...args) : v;
  }

  // Times on the wire are RFC 3339; the host reads local clock times.
  function clock(iso) {
    return new Date(iso).toLocaleTimeString(lang === "es" ? "es-ES" : "en-GB", { hour: "2-digit", minute: "2-digit" });
  }

  // An overlap names the show in the way and the next free start as RFC 3339 times in
  // its message: only those times are taken from it, shown as local clock times.
  function overlapTimes(message) {
    const times = String(message || "").match(/\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:\d\d)/g) || [];
    if (times.length < 2) return {};
    return { fromIso: times[0], toIso: times[1], nextIso: times.length > 2 ? times[times.length - 1] : null };
  }

  // The plain sentence for an API answer `r` ({status, body}).
  function error(r) {
    const table = errors[lang];
    if (r.status === 0) return table.network;
    const e = (r.body && r.body.error) || {};
    let code = e.code || "";
    if (code === "show_overlap") {
      const o = overlapTimes(e.message);
      return table.show_overlap(o.fromIso ? { from: clock(o.fromIso), to: clock(o.toIso), next: o.nextIso && clock(o.nextIso) } : {});
    }
    if ((code === "invalid_value" || code === "missing_field") && e.field && table["invalid_" + e.field]) code = "invalid_" + e.field;
    const v = table[code];
    if (v) return typeof v === "function" ? v({ status: r.status }) : v;
    return table.unknown({ status: r.status });
  }

  function mailReason(m) {
    const text = String(m.last_error || "");
    const table = mailReasons[lang];
    if (!text) return "";
    if (/expire/i.test(text)) return table.expired;
    if (/\b55[0-4]\b|5\.1\.\d|5\.7\.1|user unknown|no such user|does not exist|mailbox|recipient|address/i.test(text)) return table.address;
    if (/\b4\d\d\b|timed? ?out|refused|unreachable|connect|dns|resolve/i.test(text)) return table.relay;
    return table.other;
  }

  function problem(text) {
    if (lang === "es") {
      for (const [re, f] of problemsEs) {
        const m = text.match(re);
        if (m) return { text: f(m), lang: "es" };
      }
    }
    return { text, lang: "en" };
  }

  // Static text in the page: elements with data-t="key" (text) or data-t-label (aria-label).
  function apply(root) {
    document.documentElement.lang = lang;
    for (const e of (root || document).querySelectorAll("[data-t]")) e.textContent = t(e.dataset.t);
    for (const e of (root || document).querySelectorAll("[data-t-label]")) e.setAttribute("aria-label", t(e.dataset.tLabel));
    document.title = t("title");
  }

  function setLang(l) {
    lang = l === "en" ? "en" : "es";
    localStorage.setItem(LANG_KEY, lang);
    apply();
  }

  return { t, clock, error, mailReason, problem, apply, setLang, overlapTimes, get lang() { return lang; } };
})();
