//! The avatar colour palette the server (for token identities) and the widget (for users who
//! chose no colour) share, the translucent selection colour derived from a colour, and the
//! text colour that stays readable on a colour (WCAG 2.2 contrast).

/// The colours a user without one of their own gets, picked by a stable hash.
pub const PALETTE: [&str; 10] = [
    "#e5484d", "#f76b15", "#d5ae39", "#46a758", "#12a594", "#0090ff", "#3e63dd", "#8e4ec6",
    "#d6409f", "#978365",
];

/// A stable colour from [`PALETTE`] for a user id or name (FNV-1a of its bytes).
pub fn color_for(key: &str) -> String {
    let hash = key.bytes().fold(2166136261u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(16777619)
    });
    PALETTE[(hash % PALETTE.len() as u32) as usize].to_owned()
}

/// The translucent selection colour (`colorLight` in the Yjs convention): `#rgb` or
/// `#rrggbb` at 20 % opacity; any other text unchanged.
pub fn light_color(color: &str) -> String {
    match color.len() {
        7 => format!("{color}33"),
        4 => {
            let c: Vec<char> = color.chars().collect();
            format!("#{0}{0}{1}{1}{2}{2}33", c[1], c[2], c[3])
        }
        _ => color.to_owned(),
    }
}

/// Near-black text, for light backgrounds.
pub const DARK_TEXT: &str = "#111113";
/// White text, for dark backgrounds.
pub const LIGHT_TEXT: &str = "#ffffff";

/// The text colour ([`DARK_TEXT`] or [`LIGHT_TEXT`]) with the higher WCAG contrast ratio on
/// `background` (`#rgb`, `#rrggbb` or `#rrggbbaa`, alpha ignored); every palette colour gets
/// at least 4.5:1. Anything else gets [`LIGHT_TEXT`].
pub fn text_color_on(background: &str) -> &'static str {
    match luminance(background) {
        Some(l) if contrast(l, luminance_of(0x11, 0x11, 0x13)) > contrast(l, 1.0) => DARK_TEXT,
        _ => LIGHT_TEXT,
    }
}

/// The WCAG contrast ratio of two relative luminances.
pub fn contrast(a: f64, b: f64) -> f64 {
    let (hi, lo) = if a > b { (a, b) } else { (b, a) };
    (hi + 0.05) / (lo + 0.05)
}

/// The WCAG relative luminance of a `#rgb`, `#rrggbb` or `#rrggbbaa` colour.
pub fn luminance(color: &str) -> Option<f64> {
    let hex = color.strip_prefix('#').filter(|h| h.is_ascii())?;
    let byte = |s: &str| u8::from_str_radix(s, 16).ok();
    let (r, g, b) = match hex.len() {
        3 => {
            let d = |i: usize| byte(&hex[i..=i]).map(|v| v * 17);
            (d(0)?, d(1)?, d(2)?)
        }
        6 | 8 => (byte(&hex[0..2])?, byte(&hex[2..4])?, byte(&hex[4..6])?),
        _ => return None,
    };
    Some(luminance_of(r, g, b))
}

fn luminance_of(r: u8, g: u8, b: u8) -> f64 {
    let linear = |c: u8| {
        let c = f64::from(c) / 255.0;
        if c <= 0.04045 {
            c / 12.92
        } else {
            pow_2_4((c + 0.055) / 1.055)
        }
    };
    0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b)
}

/// `x`^2.4 for `x` in [0.09, 1] (what the sRGB curve needs), as x² · ⁵√(x²) with Newton's
/// method: `powf` would bring a libm `pow` into the wasm for this one use.
fn pow_2_4(x: f64) -> f64 {
    let square = x * x;
    let mut root = 1.0f64;
    for _ in 0..32 {
        let fourth = root * root * root * root;
        root -= (fourth * root - square) / (5.0 * fourth);
    }
    square * root
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_are_stable_and_from_the_palette() {
        assert_eq!(color_for("Ada"), color_for("Ada"));
        assert!(PALETTE.contains(&color_for("anyone").as_str()));
        assert_eq!(color_for(""), PALETTE[2166136261 % 10]);
        assert_eq!(light_color("#abc"), "#aabbcc33");
        assert_eq!(light_color("#a0b1c2"), "#a0b1c233");
        assert_eq!(light_color("#a0b1c2ff"), "#a0b1c2ff");
    }

    #[test]
    fn every_palette_colour_gets_readable_initials() {
        for color in PALETTE {
            let bg = luminance(color).unwrap();
            let text = luminance(text_color_on(color)).unwrap();
            assert!(contrast(bg, text) >= 4.5, "{color}: {}", contrast(bg, text));
        }
        assert_eq!(text_color_on("#ffffff"), DARK_TEXT);
        assert_eq!(text_color_on("#000"), LIGHT_TEXT);
        assert_eq!(text_color_on("#d5ae39cc"), DARK_TEXT);
        assert_eq!(text_color_on("red"), LIGHT_TEXT);
        assert_eq!(text_color_on("#zzzzzz"), LIGHT_TEXT);
        assert!((contrast(1.0, 0.0) - 21.0).abs() < 1e-9);
        for x in [0.09, 0.2, 0.5, 0.77, 1.0] {
            assert!((pow_2_4(x) - f64::powf(x, 2.4)).abs() < 1e-12, "{x}");
        }
    }
}
