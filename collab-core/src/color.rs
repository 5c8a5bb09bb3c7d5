//! The avatar colour palette the server (for token identities) and the widget (for users who
//! chose no colour) share, and the translucent selection colour derived from a colour.

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
}
