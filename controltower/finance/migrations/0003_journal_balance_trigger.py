"""Every journal entry balances per currency: a deferred constraint trigger checks it at commit."""

from django.db import migrations

SQL = """
CREATE FUNCTION finance_journal_entry_balances() RETURNS trigger AS $$
DECLARE
    entry bigint;
    bad record;
BEGIN
    IF TG_OP = 'DELETE' THEN
        entry := OLD.entry_id;
    ELSE
        entry := NEW.entry_id;
    END IF;
    SELECT currency, SUM(debit_amount) AS debit, SUM(credit_amount) AS credit
      INTO bad
      FROM finance_journalline
     WHERE entry_id = entry
     GROUP BY currency
    HAVING SUM(debit_amount) <> SUM(credit_amount)
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'journal entry % does not balance in %: debit % <> credit %',
            entry, bad.currency, bad.debit, bad.credit
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE CONSTRAINT TRIGGER finance_journalline_balanced
    AFTER INSERT OR UPDATE OR DELETE ON finance_journalline
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION finance_journal_entry_balances();
"""

REVERSE = """
DROP TRIGGER IF EXISTS finance_journalline_balanced ON finance_journalline;
DROP FUNCTION IF EXISTS finance_journal_entry_balances();
"""


class Migration(migrations.Migration):
    dependencies = [("finance", "0002_initial")]

    operations = [migrations.RunSQL(SQL, REVERSE)]
