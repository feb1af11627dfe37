-- A judge's score may be a real number (a 0..1 scale), not only an integer. SQLite keeps
-- whatever a column is given (0.7 stays a real number in an INTEGER column); reads cast it
-- to a real number. Nothing to change: this keeps the migrations of both backends in step.
SELECT 1;
