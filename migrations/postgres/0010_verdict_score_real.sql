-- A judge's score may be a real number (a 0..1 scale), not only an integer.
ALTER TABLE verdicts ALTER COLUMN score TYPE DOUBLE PRECISION;
