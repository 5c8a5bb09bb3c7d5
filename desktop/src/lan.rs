//! Share on LAN: this machine's LAN address and QR codes.

use std::net::{IpAddr, Ipv4Addr, UdpSocket};

/// The IPv4 address other machines on the LAN most likely reach us at: the source address the
/// routing table picks for an outside destination. `connect` on a UDP socket only selects a
/// route; no packet is sent. `None` when there is no route (no network).
pub fn lan_ip() -> Option<IpAddr> {
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok()?;
    // 192.0.2.1: TEST-NET-1 (RFC 5737), never contacted; any non-local address would do.
    socket.connect((Ipv4Addr::new(192, 0, 2, 1), 9)).ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_unspecified() && !ip.is_loopback()).then_some(ip)
}

/// `text` as a QR code, in SVG (dark modules on white, with the quiet zone).
pub fn qr_svg(text: &str) -> Result<String, String> {
    let code = qrcode::QrCode::new(text.as_bytes()).map_err(|e| e.to_string())?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(180, 180)
        .dark_color(qrcode::render::svg::Color("#111111"))
        .light_color(qrcode::render::svg::Color("#ffffff"))
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qr_is_an_svg() {
        let svg = qr_svg("http://192.168.1.20:8787/?doc=notes").unwrap();
        assert!(svg.starts_with("<?xml") || svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains("</svg>"));
    }

    #[test]
    fn lan_ip_is_never_loopback() {
        if let Some(ip) = lan_ip() {
            assert!(!ip.is_loopback());
        }
    }
}
