"""`python -m zhengtong ...`: the same as the `zhengtong` command."""

from zhengtong.cli import main

if __name__ == "__main__":
    main()
