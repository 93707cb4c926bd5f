// SPDX-License-Identifier: LGPL-3.0-or-later
// The same tiny handler as the hrmr pool bench module, for piscina directly.
export default function tiny() {
  return 'OK\n';
}
