package cpu

// x87Transcendental executes F2XM1, FYL2X, FPTAN, FPATAN, FYL2XP1,
// FSINCOS, FSIN and FCOS.
func (c *CPU) x87Transcendental(u *uop, fop uint16, f *fpx) stepResult {
	return c.udX87(u)
}
