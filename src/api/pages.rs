//! The tablets' pages, built into the binary (the venue has no internet: no CDN, no
//! outside fonts): the guest kiosk at `/kiosk`, the host console at `/host`, and their
//! script and style. Served to anyone; everything they show comes from the API with a
//! token.

use super::Reply;

pub struct Page {
    pub path: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const PAGES: &[Page] = &[
    Page {
        path: "/",
        content_type: "text/html; charset=utf-8",
        body: include_str!("../../web/index.html"),
    },
    Page {
        path: "/kiosk",
        content_type: "text/html; charset=utf-8",
        body: include_str!("../../web/kiosk.html"),
    },
    Page {
        path: "/host",
        content_type: "text/html; charset=utf-8",
        body: include_str!("../../web/host.html"),
    },
    Page {
        path: "/assets/app.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../../web/app.css"),
    },
    Page {
        path: "/assets/common.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../web/common.js"),
    },
    Page {
        path: "/assets/kiosk.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../web/kiosk.js"),
    },
    // HTTPS (issue 16): wake lock and the kiosk shell's service worker.
    Page {
        path: "/assets/kiosk-secure.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../web/kiosk-secure.js"),
    },
    Page {
        path: "/kiosk-sw.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../web/kiosk-sw.js"),
    },
    Page {
        path: "/assets/host-text.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../web/host-text.js"),
    },
    Page {
        path: "/assets/host-sheets.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../web/host-sheets.js"),
    },
    Page {
        path: "/assets/host-check.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../web/host-check.js"),
    },
    Page {
        path: "/assets/host-liveview.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../web/host-liveview.js"),
    },
    Page {
        path: "/assets/host.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../web/host.js"),
    },
];

pub fn find(path: &str) -> Option<&'static Page> {
    PAGES.iter().find(|p| p.path == path)
}

impl Page {
    pub fn reply(&self) -> Reply {
        let mut r = Reply::raw(200, self.content_type, self.body.as_bytes().to_vec());
        // Only our own scripts, styles and images (photos come as blob: URLs).
        r.headers.push((
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; \
             connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
                .to_string(),
        ));
        r.headers
            .push(("Referrer-Policy", "no-referrer".to_string()));
        r
    }
}
