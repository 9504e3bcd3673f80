//! Where one unit of a matmul (a run of consecutive weight rows) writes its results, in the
//! final `[activation row, weight row]` layout: no transpose afterwards.

/// The output cells of weight rows `first..first + len` for every activation row.
pub(crate) struct Out<'o> {
    first: usize,
    cells: Cells<'o>,
}

enum Cells<'o> {
    /// One activation row: the unit's stretch of it.
    Row(&'o mut [f32]),
    /// Per activation row, the unit's stretch of that output row.
    Rows(Vec<&'o mut [f32]>),
}

impl<'o> Out<'o> {
    /// Splits `out` (`m × n`, row-major) into units of `rows` weight rows.
    pub fn units(out: &'o mut [f32], m: usize, n: usize, rows: usize) -> Vec<Out<'o>> {
        if m == 1 {
            return out
                .chunks_mut(rows)
                .enumerate()
                .map(|(i, s)| Out {
                    first: i * rows,
                    cells: Cells::Row(s),
                })
                .collect();
        }
        let mut units: Vec<Out<'o>> = (0..n.div_ceil(rows))
            .map(|i| Out {
                first: i * rows,
                cells: Cells::Rows(Vec::with_capacity(m)),
            })
            .collect();
        for row in out.chunks_mut(n) {
            for (unit, part) in units.iter_mut().zip(row.chunks_mut(rows)) {
                if let Cells::Rows(parts) = &mut unit.cells {
                    parts.push(part);
                }
            }
        }
        units
    }

    /// The weight rows of this unit.
    pub fn rows(&self) -> std::ops::Range<usize> {
        let len = match &self.cells {
            Cells::Row(s) => s.len(),
            Cells::Rows(parts) => parts.first().map_or(0, |p| p.len()),
        };
        self.first..self.first + len
    }

    /// The unit's stretch of output row `col` (its weight rows' results for activation
    /// row `col`).
    #[inline]
    pub fn row_mut(&mut self, col: usize) -> &mut [f32] {
        match &mut self.cells {
            Cells::Row(s) => s,
            Cells::Rows(parts) => parts[col],
        }
    }
}
