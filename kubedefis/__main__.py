from kubedefis.cli import main

raise SystemExit(main())
