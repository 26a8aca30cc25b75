from venvpkg.cli import main

raise SystemExit(main())
