// Names the colour family of an [r, g, b, a] colour, to check the status dot's meaning
// (green connected, yellow connecting, red disconnected) without pinning exact shades.

export function colorFamily ([r, g, b, a]) {
  if (a === 0) return 'transparent'
  const max = Math.max(r, g, b)
  const min = Math.min(r, g, b)
  if (max - min < 40) return 'grey'
  let hue
  if (max === r) hue = (60 * ((g - b) / (max - min)) + 360) % 360
  else if (max === g) hue = 60 * ((b - r) / (max - min)) + 120
  else hue = 60 * ((r - g) / (max - min)) + 240
  if (hue < 20 || hue >= 330) return 'red'
  if (hue < 70) return 'yellow' // amber and orange-yellow included
  if (hue < 170) return 'green'
  return 'other'
}

/** The colour family the widget's README and DESIGN.md promise for each status. */
export const STATUS_COLOR = { connected: 'green', connecting: 'yellow', disconnected: 'red' }
