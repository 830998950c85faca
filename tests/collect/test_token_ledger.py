from likeability.collect.token_ledger import LEDGER, TokenLedger, TokenRecord, fingerprint
from likeability.run import RunFolder

TOKEN, OTHER = "IGQVJledger-token-0001", "IGQVJledger-token-0002"


def test_records_survive_a_new_ledger_and_name_tokens_only_by_fingerprint(tmp_path):
    run = RunFolder(str(tmp_path))
    TokenLedger(run).update({TOKEN: TokenRecord(retired=True), OTHER: TokenRecord(blocked_until=1_800_000_000)})
    again = TokenLedger(run)
    assert again.get(TOKEN) == TokenRecord(retired=True)
    assert again.get(OTHER).blocked_until == 1_800_000_000
    assert again.get("IGQVJnever-seen") == TokenRecord()
    text = run.read_text(LEDGER)
    assert fingerprint(TOKEN) in text and TOKEN not in text and OTHER not in text


def test_the_file_is_written_only_when_something_changed(tmp_path):
    run = RunFolder(str(tmp_path))
    ledger = TokenLedger(run)
    ledger.update({TOKEN: TokenRecord()})
    written = (tmp_path / LEDGER).stat().st_mtime_ns
    ledger.update({TOKEN: TokenRecord()})
    assert (tmp_path / LEDGER).stat().st_mtime_ns == written
