"""Generate the Suzhou Plant sample data set: bilingual work orders, telemetry and mappings.

The work orders are written out below as they would come from the plant's CMMS. The script
only draws their dates (inside each order's window), costs and downtimes, and simulates the
hourly telemetry. Random draws use fixed seeds, so every run writes the same files.
NOTE: Python promises the same random numbers across versions only for seeding and
`random()`, so another Python version may draw other dates and values (written with 3.11).

Regenerate from the repository root with:

    .venv/bin/python samples/sample_plant/generate.py

It writes, next to this script:

    workorders_en.csv, workorders_zh.csv, telemetry.csv
    workorders_en.yaml, workorders_zh.yaml, telemetry.yaml

and then reads the files back and checks them (see `check_outputs`). Edit the vocabulary
and the work orders here, never the generated files.
"""

from __future__ import annotations

import csv
import json
import math
import random
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import pandas as pd
import yaml

SEED = 20251031
OUTPUT_DIR = Path(__file__).resolve().parent

WORK_ORDER_COLUMNS = [
    "wo_id", "date", "site", "line", "asset", "asset_name", "system", "part", "failure_mode",
    "symptom", "action", "order_type", "cost", "downtime_h", "text",
]
TELEMETRY_COLUMNS = [
    "timestamp", "asset", "discharge_temp_c", "discharge_pressure_bar", "vibration_mm_s",
    "motor_current_a", "failure", "failure_mode",
]
# Columns whose cells may hold several values joined with MULTI_VALUE_SEPARATOR.
SPLIT_COLUMNS = ["system", "action", "failure_mode", "symptom"]
# Columns whose Chinese values workorders_zh.yaml maps to the English names.
MAPPED_COLUMNS = ["failure_mode", "action", "system", "part", "symptom"]
MULTI_VALUE_SEPARATOR = "|"

WORK_ORDER_START = date(2023, 1, 1)
WORK_ORDER_END = date(2025, 10, 31)
TELEMETRY_START = datetime(2025, 6, 1, 0)
TELEMETRY_END = datetime(2025, 7, 15, 23)
TELEMETRY_ASSETS = ["AC-3", "AC-1", "P-101", "CNC-02"]
MAX_TOTAL_CSV_BYTES = 600 * 1024

# --------------------------------------------------------------------------------------
# Plant, assets and vocabulary
# --------------------------------------------------------------------------------------

SITE = {"en": "Suzhou Plant", "zh": "苏州工厂"}
LINES = {
    "L1": {"en": "Line 1 Machining", "zh": "一号机加工线"},
    "L2": {"en": "Line 2 Assembly", "zh": "二号装配线"},
}


@dataclass(frozen=True)
class Asset:
    tag: str
    name_en: str
    name_zh: str
    line: str  # key into LINES


ASSETS = {
    asset.tag: asset
    for asset in [
        Asset("AC-3", "Air Compressor 3", "3号空压机", "L1"),
        Asset("P-101", "Coolant Pump P-101", "P-101冷却液泵", "L1"),
        Asset("P-102", "Coolant Pump P-102", "P-102冷却液泵", "L1"),
        Asset("CNC-01", "CNC Lathe 1", "1号数控车床", "L1"),
        Asset("CNC-02", "CNC Lathe 2", "2号数控车床", "L1"),
        Asset("AC-1", "Air Compressor 1", "1号空压机", "L2"),
        Asset("CV-201", "Conveyor 201", "201输送机", "L2"),
        Asset("CV-202", "Conveyor 202", "202输送机", "L2"),
        Asset("RB-05", "Welding Robot 5", "5号焊接机器人", "L2"),
        Asset("HP-02", "Hydraulic Press 2", "2号液压机", "L2"),
    ]
}

# English name (as written in workorders_en.csv) -> Chinese terms used in workorders_zh.csv.
# The first term is the default. The others are synonyms that technicians also write.
CHINESE_TERMS: dict[str, dict[str, list[str]]] = {
    "failure_mode": {
        "Overheating": ["过热"],
        "Leak": ["泄漏", "渗漏"],
        "Vibration": ["振动"],
        "Noise": ["噪声"],
        "Fail to Start": ["无法启动"],
        "Low Output": ["出力不足"],
        "Breakdown": ["损坏"],
        "Electrical Fault": ["电气故障"],
        "Pressure Low": ["压力低"],
    },
    "action": {
        "Replace": ["更换"],
        "Repair": ["维修"],
        "Clean": ["清洗", "清洁"],
        "Adjust": ["调整"],
        "Lubricate": ["润滑"],
        "Inspect": ["检查", "点检"],
    },
    "system": {
        "Cooling System": ["冷却系统"],
        "Lubrication System": ["润滑系统"],
        "Drive System": ["驱动系统"],
        "Air End": ["主机"],
        "Intake System": ["进气系统"],
        "Electrical System": ["电气系统"],
        "Sealing System": ["密封系统"],
        "Bearing Housing": ["轴承箱"],
        "Pump Casing": ["泵体"],
        "Spindle": ["主轴"],
        "Hydraulic System": ["液压系统"],
        "Coolant System": ["冷却液系统"],
        "Machine Base": ["机床底座"],
        "Conveying System": ["输送系统"],
        "Welding System": ["焊接系统"],
        "Manipulator": ["机械臂"],
        "Safety System": ["安全系统"],
    },
    "part": {
        "Cooling Fan": ["冷却风扇"],
        "Oil Cooler": ["油冷却器"],
        "Thermostatic Valve": ["温控阀"],
        "Air Filter": ["空气过滤器", "空滤"],
        "Oil Filter": ["油过滤器"],
        "Oil Separator": ["油气分离器"],
        "Oil Hose": ["油管"],
        "Drive Belt": ["传动皮带"],
        "Intake Valve": ["进气阀"],
        "Contactor": ["接触器"],
        "Motor": ["电机"],
        "Frequency Inverter": ["变频器"],
        "Fuse": ["保险丝"],
        "Mechanical Seal": ["机械密封"],
        "Casing Gasket": ["泵体垫片"],
        "Bearing 6205-2RS": ["轴承6205-2RS"],
        "Coupling": ["联轴器"],
        "Suction Strainer": ["吸入过滤网"],
        "Spindle Bearing": ["主轴轴承"],
        "Chuck": ["卡盘"],
        "Anchor Bolt": ["地脚螺栓"],
        "Hydraulic Hose": ["液压软管", "液压油管"],
        "Solenoid Valve": ["电磁阀"],
        "Relief Valve": ["溢流阀"],
        "Hydraulic Pump": ["液压泵"],
        "Cylinder Seal": ["油缸密封"],
        "Encoder": ["编码器"],
        "Servo Drive": ["伺服驱动器"],
        "Coolant Nozzle": ["冷却液喷嘴"],
        "Gearbox": ["减速机"],
        "Drive Chain": ["传动链条"],
        "Conveyor Belt": ["输送带"],
        "Roller": ["托辊"],
        "Photoelectric Sensor": ["光电传感器"],
        "Cooling Water Hose": ["冷却水管"],
        "Contact Tip": ["导电嘴"],
        "Torch Cable": ["焊枪电缆"],
        "Wire Feeder": ["送丝机"],
        "RV Reducer": ["RV减速器"],
        "Light Curtain": ["安全光幕"],
    },
    "symptom": {
        "High Discharge Temperature": ["排气温度高"],
        "Overtemperature Alarm": ["超温报警"],
        "High Oil Temperature": ["油温高"],
        "Abnormal Noise": ["异响"],
        "High Vibration": ["振动大"],
        "Oil on Floor": ["地面有油", "地面油污"],
        "Coolant Leaking": ["冷却液渗漏"],
        "Low Discharge Pressure": ["排气压力低"],
        "Pressure Drop": ["压力下降"],
        "Low Flow": ["流量低"],
        "Motor Tripped": ["电机跳闸"],
        "Motor Does Not Start": ["电机不启动"],
        "Burning Smell": ["焦糊味"],
        "Belt Slipping": ["皮带打滑"],
        "Poor Surface Finish": ["表面光洁度差"],
        "Servo Alarm": ["伺服报警"],
        "Line Stopped": ["线体停止"],
        "False Signal": ["信号误报"],
        "Arc Start Failure": ["起弧失败"],
        "No Power": ["无电源"],
        "Safety Circuit Open": ["安全回路断开"],
        "Wire Feed Unstable": ["送丝不稳"],
        "Porosity in Weld": ["焊缝气孔"],
    },
}

# Failure mode -> ISO 14224 failure-mode code, with the reason where the match is not by name.
FAILURE_MODE_CODES = {
    "Overheating": ("OHE", ""),
    "Leak": ("ELU", "external leakage of a utility medium: coolant, lubricating or hydraulic oil"),
    "Vibration": ("VIB", ""),
    "Noise": ("NOI", ""),
    "Fail to Start": ("FTS", ""),
    "Low Output": ("LOO", ""),
    "Breakdown": ("BRD", "serious damage: seizure or breakage"),
    "Electrical Fault": ("PTF", "power / signal transmission failure, the nearest code to an electrical fault"),
    "Pressure Low": ("PDE", "parameter deviation: a monitored pressure below its low limit"),
}

# --------------------------------------------------------------------------------------
# Telemetry failure events
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FailureEvent:
    asset: str
    failure_mode: str
    failure_at: datetime  # hour of the reading flagged failure=1
    ramp_hours: int       # hours of visible degradation before the failure reading
    downtime_hours: int   # hours stopped after the failure reading, until the repair is done

    @property
    def key(self) -> str:
        return f"{self.asset}@{self.failure_at:%Y-%m-%d}"

    def progress(self, timestamp: datetime) -> float:
        """Return the degradation progress at `timestamp`: 0 before the ramp, 1 at the failure."""
        ramp_start = self.failure_at - timedelta(hours=self.ramp_hours)
        hours_in = (timestamp - ramp_start) / timedelta(hours=1)
        return min(max(hours_in / self.ramp_hours, 0.0), 1.0) if timestamp <= self.failure_at else 0.0

    def is_stopped(self, timestamp: datetime) -> bool:
        hours_after = (timestamp - self.failure_at) / timedelta(hours=1)
        return 0 < hours_after <= self.downtime_hours


FAILURE_EVENTS = [
    # Cracked cooling fan: discharge temperature climbs for 36 h until the high-temperature trip.
    FailureEvent("AC-3", "Overheating", datetime(2025, 6, 20, 14), ramp_hours=36, downtime_hours=5),
    # Worn mechanical seal: discharge pressure sags for three days, then the seal lets go.
    FailureEvent("P-101", "Leak", datetime(2025, 6, 28, 9), ramp_hours=72, downtime_hours=4),
    # Spalling spindle bearing: vibration grows for 20 days up to the vibration alarm.
    FailureEvent("CNC-02", "Vibration", datetime(2025, 7, 2, 15), ramp_hours=480, downtime_hours=22),
    # Oil cooler fouled since the June repair: slow drift, then a 30 h ramp to the trip.
    FailureEvent("AC-3", "Overheating", datetime(2025, 7, 8, 10), ramp_hours=30, downtime_hours=4),
]
EVENTS_BY_KEY = {event.key: event for event in FAILURE_EVENTS}

# --------------------------------------------------------------------------------------
# Work orders. Field values are the English names. Chinese rows are translated with
# CHINESE_TERMS, or take the Chinese cell given in the entry's "zh" override.
# `when` is a (first, last) date window for a random day, or a FailureEvent key.
# Text placeholders: {temp} degC, {bar} bar, {vib} mm/s, {amps} A, {hours} h of downtime,
# {time} clock time of the failure, {restart_temp} discharge temperature 2 h after restart.
# --------------------------------------------------------------------------------------


def make_orders(language: str, asset: str, order_type: str, entries: list[tuple], **common) -> list[dict]:
    """Build work-order specs that share `common` fields.

    Each entry is (when, text) or (when, text, overrides), and overrides replace common fields.
    """
    specs = []
    for entry in entries:
        when, text, *rest = entry
        spec = {"language": language, "asset": asset, "order_type": order_type, **common}
        if rest:
            spec.update(rest[0])
        spec["when"] = when
        spec["text"] = text
        specs.append(spec)
    return specs


PM_COST = (280.0, 1600.0)
INSPECTION_COST = (120.0, 450.0)  # PM orders that only inspect and use no parts
PM_DOWNTIME = (0.5, 3.0)

AC3_EN = [
    *make_orders("en", "AC-3", "CM", [
        (("2023-06-05", "2023-06-30"),
         "AC-3 tripped on high discharge temp {temp}C. Cooling fan blades cracked, replaced fan. Test run OK at 87C."),
        (("2024-07-01", "2024-07-31"),
         "AC-3 loud rattling from cooler side, then high disch temp alarm {temp}C. 2 fan blades broken off. "
         "Fitted new cooling fan assy, temp back to normal.",
         {"failure_mode": "Overheating|Noise", "symptom": "High Discharge Temperature|Abnormal Noise"}),
        (("2024-08-15", "2024-09-10"),
         "AC-3 overtemp shutdown at {temp}C. Cooling fan not turning, fan motor bearing seized. "
         "Replaced cooling fan complete with motor."),
        ("AC-3@2025-06-20",
         "AC-3 tripped on high discharge temp {temp}C at {time}. Temp had been creeping up since the night before. "
         "Cooling fan hub cracked, fan out of balance ({vib} mm/s on housing). Replaced cooling fan, "
         "restarted after {hours} h, disch temp {restart_temp}C 2 h after restart."),
    ], system="Cooling System", part="Cooling Fan", failure_mode="Overheating",
        symptom="High Discharge Temperature", action="Replace", cost=(2100.0, 3300.0), downtime=(3.0, 7.0),
        params={"temp": (106, 113)}),
    *make_orders("en", "AC-3", "CM", [
        (("2023-08-01", "2023-08-31"),
         "AC-3 running hot, {temp}C discharge. Oil cooler fins packed with dust and oil mist. "
         "Blew out with air and washed with degreaser. Restart OK."),
        (("2024-05-20", "2024-06-20"),
         "AC-3 high temp trip {temp}C. Oil cooler clogged on air side (fluff from the packing area). "
         "Cleaned cooler core, fitted filter mat on cooler inlet."),
        (("2025-05-10", "2025-05-31"),
         "AC-3 overheating, {temp}C. Oil cooler partly blocked. Cleaned cooler, also replaced the "
         "thermostatic valve insert, it was sticking.",
         {"action": "Clean|Replace"}),
    ], system="Cooling System", part="Oil Cooler", failure_mode="Overheating",
        symptom="High Discharge Temperature", action="Clean", cost=(650.0, 1500.0), downtime=(2.0, 5.0),
        params={"temp": (105, 112)}),
    *make_orders("en", "AC-3", "CM", [
        (("2023-09-05", "2023-09-30"),
         "AC-3 disch temp {temp}C, high temp warning. Intake air filter clogged, dP gauge in the red. "
         "Replaced air filter element."),
        (("2025-09-01", "2025-09-30"),
         "AC-3 temp high ({temp}C) and not keeping up with air demand. Air filter heavily loaded after "
         "construction dust. Cleaned filter housing, replaced element.",
         {"failure_mode": "Overheating|Low Output", "symptom": "High Discharge Temperature|Low Discharge Pressure",
          "action": "Clean|Replace"}),
    ], system="Intake System", part="Air Filter", failure_mode="Overheating",
        symptom="High Discharge Temperature", action="Replace", cost=(380.0, 720.0), downtime=(1.0, 2.5),
        params={"temp": (103, 109)}),
    *make_orders("en", "AC-3", "PM", [
        (("2023-03-01", "2023-03-31"),
         "AC-3 4000 h service: changed compressor oil, oil filter and air filter. Checked belt tension, no findings.",
         {"system": "Lubrication System|Intake System", "action": "Replace|Inspect"}),
        (("2023-11-01", "2023-11-30"),
         "AC-3 quarterly PM. Cleaned oil cooler and fan guard, checked drain valve, greased motor bearings.",
         {"system": "Cooling System|Drive System", "action": "Clean|Lubricate"}),
        (("2024-03-01", "2024-03-31"),
         "AC-3 8000 h service. Replaced oil separator, oil filter, air filter and oil. Separator dP was 0.8 bar.",
         {"system": "Lubrication System", "part": "Oil Separator", "action": "Replace"}),
        (("2024-11-01", "2024-11-30"),
         "AC-3 PM: inspected cooling fan and cooler, cleaned cooler fins, motor current 126 A. OK.",
         {"system": "Cooling System", "action": "Inspect|Clean"}),
        (("2025-03-01", "2025-03-31"),
         "AC-3 4000 h service, oil + oil filter changed, air filter replaced. Belt tension adjusted.",
         {"system": "Lubrication System|Drive System", "action": "Replace|Adjust"}),
        (("2025-07-16", "2025-07-31"),
         "AC-3 follow-up after two overtemp trips in June/July: checked fan, oil cooler, thermostatic valve "
         "and oil level. Fitted dust filter mat on cooler intake. Cooler to be cleaned monthly in summer.",
         {"system": "Cooling System", "action": "Inspect|Clean"}),
    ], cost=PM_COST, downtime=PM_DOWNTIME),
    *make_orders("en", "AC-3", "CM", [
        (("2024-01-10", "2024-02-28"),
         "AC-3 oil drips under unit. Oil filter housing gasket leaking. Replaced filter and gasket, cleaned up floor.",
         {"system": "Lubrication System", "part": "Oil Filter", "failure_mode": "Leak",
          "symptom": "Oil on Floor", "action": "Replace", "cost": (420.0, 780.0), "downtime": (1.0, 2.0)}),
        (("2025-01-05", "2025-02-15"),
         "AC-3 not reaching 7 bar, max {bar} bar. Intake valve sticking half open. Stripped and repaired "
         "intake valve with new seal kit.",
         {"system": "Intake System", "part": "Intake Valve", "failure_mode": "Pressure Low",
          "symptom": "Low Discharge Pressure", "action": "Repair", "cost": (1200.0, 2400.0),
          "downtime": (3.0, 6.0), "params": {"bar": (5.6, 6.3)}}),
    ]),
]

AC3_ZH = [
    *make_orders("zh", "AC-3", "CM", [
        (("2023-07-01", "2023-07-31"),
         "3号空压机排气温度高报警停机，检查发现冷却风扇叶片破裂（与6月更换的风扇同一批次），"
         "已更换为原厂风扇，试机正常。"),
        (("2024-06-01", "2024-06-30"),
         "3号空压机排气温度达{temp}℃跳机。冷却风扇电机烧坏，风扇不转，更换冷却风扇总成。"),
        (("2025-08-01", "2025-08-31"),
         "3号空压机排温{temp}℃，超温报警。冷却风扇叶片变形，运转抖动，更换新风扇后排温降至85℃。",
         {"symptom": "High Discharge Temperature|Overtemperature Alarm"}),
    ], system="Cooling System", part="Cooling Fan", failure_mode="Overheating",
        symptom="High Discharge Temperature", action="Replace", cost=(2100.0, 3300.0), downtime=(3.0, 7.0),
        params={"temp": (106, 113)}),
    *make_orders("zh", "AC-3", "CM", [
        ("AC-3@2025-07-08",
         "3号空压机排气温度{temp}℃高温停机（近两周排温逐渐升高）。油冷却器散热片被油污和粉尘堵塞，"
         "拆下清洗后复装，停机{hours}小时，开机2小时后排温{restart_temp}℃。"),
    ], system="Cooling System", part="Oil Cooler", failure_mode="Overheating",
        symptom="High Discharge Temperature", action="Clean", cost=(650.0, 1500.0), downtime=(2.0, 5.0)),
    *make_orders("zh", "AC-3", "CM", [
        (("2024-09-01", "2024-09-30"),
         "3号空压机排气温度偏高（{temp}℃），空滤压差报警，更换空滤滤芯。",
         {"zh": {"part": "空滤"}}),
    ], system="Intake System", part="Air Filter", failure_mode="Overheating",
        symptom="High Discharge Temperature", action="Replace", cost=(380.0, 720.0), downtime=(1.0, 2.5),
        params={"temp": (103, 108)}),
    *make_orders("zh", "AC-3", "PM", [
        (("2023-12-01", "2023-12-31"),
         "3号空压机年度保养：更换压缩机油、油过滤器、油气分离器，检查皮带张紧度。",
         {"system": "Lubrication System", "part": "Oil Separator", "action": "Replace|Inspect"}),
        (("2025-10-01", "2025-10-31"),
         "3号空压机季度保养，清洁油冷却器及风扇护罩，点检电机轴承。",
         {"system": "Cooling System", "action": "Clean|Inspect", "zh": {"action": "清洁|点检"}}),
    ], cost=PM_COST, downtime=PM_DOWNTIME),
    *make_orders("zh", "AC-3", "CM", [
        (("2024-04-01", "2024-04-30"),
         "3号空压机无法启动，控制柜主接触器触点烧蚀，更换接触器后正常。",
         {"system": "Electrical System", "part": "Contactor", "failure_mode": "Fail to Start",
          "symptom": "Motor Does Not Start", "action": "Replace", "cost": (450.0, 900.0), "downtime": (1.5, 3.0)}),
    ]),
]

AC1_EN = [
    *make_orders("en", "AC-1", "PM", [
        (("2023-04-01", "2023-04-30"),
         "AC-1 4000 h service: oil, oil filter and air filter changed. Drain valve cleaned.",
         {"system": "Lubrication System|Intake System", "action": "Replace|Clean"}),
        (("2023-10-01", "2023-10-31"),
         "AC-1 quarterly check, cooler cleaned, belt tension OK, no leaks.",
         {"system": "Cooling System", "action": "Clean|Inspect"}),
        (("2024-04-01", "2024-04-30"),
         "AC-1 8000 h service, replaced oil separator and all filters.",
         {"system": "Lubrication System", "part": "Oil Separator", "action": "Replace"}),
        (("2025-04-01", "2025-04-30"),
         "AC-1 4000 h service, oil + filters changed.",
         {"system": "Lubrication System", "action": "Replace"}),
    ], cost=PM_COST, downtime=PM_DOWNTIME),
    *make_orders("en", "AC-1", "CM", [
        (("2023-06-01", "2023-06-30"),
         "AC-1 squealing at start-up. Drive belts glazed and loose. Adjusted tension.",
         {"system": "Drive System", "part": "Drive Belt", "failure_mode": "Noise",
          "symptom": "Abnormal Noise|Belt Slipping", "action": "Adjust", "cost": (150.0, 400.0),
          "downtime": (0.5, 1.5)}),
        (("2024-01-05", "2024-01-31"),
         "AC-1 would not start after the weekend, main contactor coil open circuit. Replaced contactor.",
         {"system": "Electrical System", "part": "Contactor", "failure_mode": "Fail to Start",
          "symptom": "Motor Does Not Start", "action": "Replace", "cost": (450.0, 900.0), "downtime": (1.5, 3.0)}),
        (("2024-10-01", "2024-10-31"),
         "AC-1 line pressure dropping to {bar} bar at peak demand. Intake valve diaphragm torn. "
         "Repaired intake valve with new kit.",
         {"system": "Intake System", "part": "Intake Valve", "failure_mode": "Pressure Low",
          "symptom": "Low Discharge Pressure", "action": "Repair", "cost": (1100.0, 2200.0),
          "downtime": (2.0, 5.0), "params": {"bar": (5.8, 6.4)}}),
        (("2025-01-10", "2025-02-20"),
         "AC-1 oil drips at oil cooler outlet, hose cracked at the crimp. Replaced oil hose and topped up oil.",
         {"system": "Cooling System", "part": "Oil Hose", "failure_mode": "Leak", "symptom": "Oil on Floor",
          "action": "Replace", "cost": (350.0, 800.0), "downtime": (1.0, 2.5)}),
        (("2024-08-01", "2024-08-31"),
         "AC-1 high temp warning {temp}C on a hot afternoon, did not trip. Oil cooler dirty, cleaned. "
         "Opened compressor room vent louvers.",
         {"system": "Cooling System", "part": "Oil Cooler", "failure_mode": "Overheating",
          "symptom": "High Discharge Temperature", "action": "Clean", "cost": (500.0, 1100.0),
          "downtime": (1.5, 3.0), "params": {"temp": (101, 105)}}),
    ]),
]

AC1_ZH = [
    *make_orders("zh", "AC-1", "PM", [
        (("2024-11-01", "2024-11-30"),
         "1号空压机保养：更换机油、油过滤器和空滤，清洗冷却器。",
         {"system": "Lubrication System|Cooling System", "action": "Replace|Clean"}),
        (("2023-12-10", "2023-12-31"),
         "1号空压机年度点检，检查电机绝缘、皮带、冷却风扇，无异常。",
         {"system": "Drive System|Electrical System", "action": "Inspect", "zh": {"action": "点检"},
          "cost": INSPECTION_COST}),
    ], cost=PM_COST, downtime=PM_DOWNTIME),
    *make_orders("zh", "AC-1", "CM", [
        (("2025-08-01", "2025-08-31"),
         "1号空压机排气压力低，只能到{bar}bar，检查进气阀卡滞，拆洗调整后恢复7.5bar。",
         {"system": "Intake System", "part": "Intake Valve", "failure_mode": "Pressure Low",
          "symptom": "Low Discharge Pressure", "action": "Clean|Adjust", "cost": (300.0, 800.0),
          "downtime": (1.5, 3.0), "params": {"bar": (5.8, 6.4)}}),
        (("2025-05-01", "2025-05-31"),
         "1号空压机启动时皮带打滑，有尖叫声，调整皮带张紧度后正常。",
         {"system": "Drive System", "part": "Drive Belt", "failure_mode": "Noise",
          "symptom": "Belt Slipping|Abnormal Noise", "action": "Adjust", "cost": (150.0, 400.0),
          "downtime": (0.5, 1.5)}),
    ]),
]

P101_EN = [
    *make_orders("en", "P-101", "CM", [
        (("2023-02-01", "2023-03-15"),
         "P-101 leaking coolant at mech seal, puddle under pump. Replaced mechanical seal."),
        (("2023-10-01", "2023-11-15"),
         "P-101 seal leak again, seal faces scored by chips in the coolant. Replaced mech seal, "
         "asked line to check the chip filter."),
        (("2024-06-01", "2024-07-15"),
         "Coolant on floor under P-101. Mechanical seal worn after 8 months. Replaced seal, flushed seal chamber.",
         {"action": "Replace|Clean"}),
        ("P-101@2025-06-28",
         "P-101 discharge pressure down to {bar} bar, coolant spraying from mech seal. Pump stopped, "
         "replaced mechanical seal ({hours} h). Pressure back to 4.2 bar."),
    ], system="Sealing System", part="Mechanical Seal", failure_mode="Leak", symptom="Coolant Leaking",
        action="Replace", cost=(1800.0, 3400.0), downtime=(3.0, 5.0)),
    *make_orders("en", "P-101", "CM", [
        (("2024-02-01", "2024-03-15"),
         "P-101 small leak at casing joint. Casing gasket hardened. Replaced gasket, retorqued bolts.",
         {"system": "Pump Casing", "part": "Casing Gasket", "failure_mode": "Leak", "symptom": "Coolant Leaking",
          "action": "Replace", "cost": (300.0, 650.0), "downtime": (1.5, 3.0)}),
        (("2025-01-10", "2025-02-28"),
         "P-101 vibrating, {vib} mm/s at motor DE. Coupling misaligned, rubber insert worn. "
         "Realigned and replaced insert.",
         {"system": "Drive System", "part": "Coupling", "failure_mode": "Vibration", "symptom": "High Vibration",
          "action": "Adjust|Replace", "cost": (250.0, 600.0), "downtime": (1.5, 3.0),
          "params": {"vib": (4.6, 6.2)}}),
    ]),
    *make_orders("en", "P-101", "PM", [
        (("2023-05-01", "2023-05-31"),
         "P-101 PM: checked seal for leaks, greased motor bearings, cleaned suction strainer.",
         {"system": "Sealing System|Bearing Housing", "action": "Inspect|Lubricate|Clean"}),
        (("2024-11-01", "2024-11-30"),
         "P-101 half-year PM, bearing temps OK, no seal leakage, vibration 1.4 mm/s.",
         {"system": "Bearing Housing", "action": "Inspect", "cost": INSPECTION_COST}),
        (("2025-08-01", "2025-08-31"),
         "P-101 check 5 weeks after seal replacement: no leakage, discharge pressure 4.2 bar, bearings greased.",
         {"system": "Sealing System|Bearing Housing", "action": "Inspect|Lubricate"}),
    ], cost=PM_COST, downtime=PM_DOWNTIME),
]

P101_ZH = [
    *make_orders("zh", "P-101", "CM", [
        (("2024-12-01", "2024-12-31"),
         "P-101冷却液泵机械密封处渗漏，地面积液，更换机械密封。",
         {"zh": {"failure_mode": "渗漏"}}),
        (("2025-09-01", "2025-10-15"),
         "P-101冷却液泵机封漏液，拆检发现动环磨损，更换机械密封并清洗密封腔。",
         {"action": "Replace|Clean"}),
    ], system="Sealing System", part="Mechanical Seal", failure_mode="Leak", symptom="Coolant Leaking",
        action="Replace", cost=(1800.0, 3400.0), downtime=(3.0, 5.0)),
    *make_orders("zh", "P-101", "CM", [
        (("2023-08-01", "2023-09-15"),
         "P-101冷却液泵驱动端异响，拆检发现轴承 6205-2RS 损坏，已更换，试运行正常。",
         {"system": "Bearing Housing", "part": "Bearing 6205-2RS", "failure_mode": "Noise",
          "symptom": "Abnormal Noise", "action": "Replace", "cost": (260.0, 520.0), "downtime": (2.0, 4.0)}),
    ]),
    *make_orders("zh", "P-101", "PM", [
        (("2025-04-01", "2025-04-30"),
         "P-101冷却液泵定期保养：检查机械密封无泄漏，电机轴承加注润滑脂。",
         {"system": "Sealing System|Bearing Housing", "action": "Inspect|Lubricate"}),
    ], cost=PM_COST, downtime=PM_DOWNTIME),
]

P102_EN = [
    *make_orders("en", "P-102", "CM", [
        (("2024-09-01", "2024-10-15"),
         "P-102 mech seal weeping, coolant trail to drain. Replaced mechanical seal.",
         {"system": "Sealing System", "part": "Mechanical Seal", "failure_mode": "Leak",
          "symptom": "Coolant Leaking", "action": "Replace", "cost": (1800.0, 3400.0), "downtime": (3.0, 5.0)}),
        (("2023-11-15", "2023-12-31"),
         "P-102 will not start, motor overload tripped. Winding insulation 0.5 MOhm. Installed spare motor, "
         "old one sent for rewind.",
         {"system": "Drive System", "part": "Motor", "failure_mode": "Fail to Start", "symptom": "Motor Tripped",
          "action": "Replace", "cost": (2600.0, 4200.0), "downtime": (3.0, 6.0)}),
        (("2025-04-01", "2025-05-15"),
         "P-102 rumbling from bearing housing, NDE bearing 6205-2RS dry and pitted. Replaced both bearings.",
         {"system": "Bearing Housing", "part": "Bearing 6205-2RS", "failure_mode": "Noise",
          "symptom": "Abnormal Noise", "action": "Replace", "cost": (260.0, 520.0), "downtime": (2.0, 4.0)}),
    ]),
    *make_orders("en", "P-102", "PM", [
        (("2024-05-01", "2024-05-31"),
         "P-102 PM, cleaned suction strainer, checked seal and coupling.",
         {"system": "Pump Casing|Sealing System", "action": "Clean|Inspect"}),
    ], cost=PM_COST, downtime=PM_DOWNTIME),
]

P102_ZH = [
    *make_orders("zh", "P-102", "CM", [
        (("2025-03-01", "2025-03-31"),
         "P-102冷却液泵流量低，机床冷却液喷射无力。吸入过滤网被切屑堵塞，清洗后恢复。",
         {"system": "Pump Casing", "part": "Suction Strainer", "failure_mode": "Low Output",
          "symptom": "Low Flow", "action": "Clean", "cost": (120.0, 350.0), "downtime": (1.0, 2.0)}),
        (("2025-07-16", "2025-08-31"),
         "P-102冷却液泵机械密封渗漏，更换机械密封。",
         {"system": "Sealing System", "part": "Mechanical Seal", "failure_mode": "Leak",
          "symptom": "Coolant Leaking", "action": "Replace", "cost": (1800.0, 3400.0), "downtime": (3.0, 5.0)}),
    ]),
    *make_orders("zh", "P-102", "PM", [
        (("2023-06-01", "2023-06-30"),
         "P-102冷却液泵月度点检，运行正常。",
         {"system": "Drive System|Sealing System", "action": "Inspect", "zh": {"action": "点检"},
          "cost": INSPECTION_COST}),
    ], cost=PM_COST, downtime=PM_DOWNTIME),
]

CNC01_EN = [
    *make_orders("en", "CNC-01", "CM", [
        (("2023-04-10", "2023-05-20"),
         "CNC-01 hydraulic oil under machine. Chuck clamp hose chafed through at the drag chain. "
         "Replaced hose, topped up oil.",
         {"system": "Hydraulic System", "part": "Hydraulic Hose", "failure_mode": "Leak",
          "symptom": "Oil on Floor", "action": "Replace", "cost": (380.0, 850.0), "downtime": (1.5, 3.5)}),
        (("2025-08-01", "2025-09-15"),
         "CNC-01 hydraulic hose to turret clamp weeping at the fitting. Replaced hose assembly.",
         {"system": "Hydraulic System", "part": "Hydraulic Hose", "failure_mode": "Leak",
          "symptom": "Oil on Floor", "action": "Replace", "cost": (380.0, 850.0), "downtime": (1.5, 3.5)}),
        (("2024-03-01", "2024-04-15"),
         "CNC-01 X axis alarm, excess position deviation. Encoder signal dropping out. Replaced X axis encoder, "
         "re-referenced axis.",
         {"system": "Electrical System", "part": "Encoder", "failure_mode": "Electrical Fault",
          "symptom": "Servo Alarm", "action": "Replace", "cost": (3200.0, 5200.0), "downtime": (4.0, 8.0)}),
        (("2024-08-01", "2024-09-15"),
         "CNC-01 chuck pressure low alarm, {bar} bar vs 35 bar set. Solenoid valve spool sticking. "
         "Cleaned valve, adjusted pressure reducing valve.",
         {"system": "Hydraulic System", "part": "Solenoid Valve", "failure_mode": "Pressure Low",
          "symptom": "Pressure Drop", "action": "Clean|Adjust", "cost": (200.0, 600.0), "downtime": (1.0, 3.0),
          "params": {"bar": (22.0, 28.0)}}),
        (("2025-02-01", "2025-03-15"),
         "CNC-01 chatter on OD turning. Chuck jaws worn, run-out 0.05 mm. Replaced top jaws and bored them in place.",
         {"system": "Spindle", "part": "Chuck", "failure_mode": "Vibration",
          "symptom": "High Vibration|Poor Surface Finish", "action": "Replace|Adjust", "cost": (900.0, 1800.0),
          "downtime": (2.0, 4.0)}),
        (("2023-11-01", "2023-11-30"),
         "CNC-01 vibration at high spindle speed after the floor repair next to it. Two anchor bolts loose. "
         "Releveled machine and retorqued anchor bolts.",
         {"system": "Machine Base", "part": "Anchor Bolt", "failure_mode": "Vibration", "symptom": "High Vibration",
          "action": "Adjust", "cost": (200.0, 500.0), "downtime": (2.0, 4.0)}),
    ]),
    *make_orders("en", "CNC-01", "PM", [
        (("2023-09-01", "2023-09-30"),
         "CNC-01 quarterly PM: changed hydraulic oil filter, cleaned coolant tank, greased chuck.",
         {"system": "Hydraulic System|Coolant System", "action": "Replace|Clean|Lubricate"}),
        (("2025-06-01", "2025-06-30"),
         "CNC-01 PM, checked X/Z backlash, cleaned coolant nozzles, greased chuck.",
         {"system": "Spindle|Coolant System", "action": "Inspect|Clean|Lubricate"}),
    ], cost=PM_COST, downtime=PM_DOWNTIME),
]

CNC01_ZH = [
    *make_orders("zh", "CNC-01", "CM", [
        (("2024-11-01", "2024-11-30"),
         "1号数控车床液压油管接头漏油，更换液压油管，补充液压油。",
         {"system": "Hydraulic System", "part": "Hydraulic Hose", "failure_mode": "Leak",
          "symptom": "Oil on Floor", "action": "Replace", "cost": (380.0, 850.0), "downtime": (1.5, 3.5),
          "zh": {"part": "液压油管", "symptom": "地面油污"}}),
        (("2025-07-20", "2025-08-31"),
         "1号数控车床X轴报警SV0436（servo motor overload），检查伺服驱动器，更换后恢复正常。",
         {"system": "Electrical System", "part": "Servo Drive", "failure_mode": "Electrical Fault",
          "symptom": "Servo Alarm", "action": "Inspect|Replace", "cost": (4800.0, 7600.0),
          "downtime": (4.0, 9.0)}),
    ]),
    *make_orders("zh", "CNC-01", "PM", [
        (("2023-12-01", "2023-12-31"),
         "1号数控车床年度保养：更换液压油和滤芯，清洗冷却液箱，检查主轴润滑。",
         {"system": "Hydraulic System|Coolant System", "action": "Replace|Clean|Inspect"}),
    ], cost=PM_COST, downtime=PM_DOWNTIME),
]

CNC02_EN = [
    *make_orders("en", "CNC-02", "CM", [
        (("2023-05-01", "2023-06-15"),
         "CNC-02 spindle vibration {vib} mm/s, chatter marks on parts. Front spindle bearings worn. "
         "Replaced spindle bearing set, run-in 2 h."),
        (("2024-02-01", "2024-03-15"),
         "CNC-02 spindle noisy and vibrating above 2500 rpm ({vib} mm/s). Rear spindle bearing pitted. "
         "Replaced spindle bearings front and rear.",
         {"failure_mode": "Vibration|Noise", "symptom": "High Vibration|Abnormal Noise"}),
        (("2024-10-01", "2024-11-15"),
         "CNC-02 surface finish Ra out of spec, spindle vib {vib} mm/s. Spindle bearing preload lost. "
         "Replaced bearings and set preload.",
         {"symptom": "Poor Surface Finish|High Vibration", "action": "Replace|Adjust"}),
    ], system="Spindle", part="Spindle Bearing", failure_mode="Vibration",
        symptom="High Vibration|Poor Surface Finish", action="Replace", cost=(18000.0, 32000.0),
        downtime=(14.0, 26.0), params={"vib": (4.8, 7.5)}),
    *make_orders("en", "CNC-02", "CM", [
        (("2023-09-01", "2023-10-15"),
         "CNC-02 vibration after jaw change, chuck out of balance. Rebalanced chuck and reset jaws.",
         {"system": "Spindle", "part": "Chuck", "failure_mode": "Vibration", "symptom": "High Vibration",
          "action": "Adjust", "cost": (300.0, 800.0), "downtime": (1.5, 3.0)}),
        (("2025-03-01", "2025-04-15"),
         "CNC-02 spindle temp alarm, housing hot to touch. Spindle bearing lubrication starved. "
         "Relubricated; slight bearing noise, monitor.",
         {"system": "Spindle", "part": "Spindle Bearing", "failure_mode": "Overheating",
          "symptom": "Overtemperature Alarm", "action": "Lubricate|Inspect", "cost": (400.0, 900.0),
          "downtime": (2.0, 4.0)}),
        (("2024-05-01", "2024-06-15"),
         "CNC-02 coolant flow weak at turret, nozzles blocked with chips. Cleaned nozzles and coolant filter.",
         {"system": "Coolant System", "part": "Coolant Nozzle", "failure_mode": "Low Output", "symptom": "Low Flow",
          "action": "Clean", "cost": (100.0, 300.0), "downtime": (0.5, 1.5)}),
    ]),
    *make_orders("en", "CNC-02", "PM", [
        (("2023-02-01", "2023-02-28"),
         "CNC-02 quarterly PM, cleaned coolant tank, greased chuck, spindle run-out 0.003 mm.",
         {"system": "Spindle|Coolant System", "action": "Clean|Lubricate|Inspect"}),
        (("2025-09-01", "2025-09-30"),
         "CNC-02 PM after spindle rebuild, spindle vib 0.9 mm/s, backlash OK.",
         {"system": "Spindle", "action": "Inspect", "cost": INSPECTION_COST}),
    ], cost=PM_COST, downtime=PM_DOWNTIME),
]

CNC02_ZH = [
    *make_orders("zh", "CNC-02", "CM", [
        ("CNC-02@2025-07-02",
         "2号数控车床主轴振动报警（{vib} mm/s），加工件表面有振纹。拆检主轴，前轴承滚道剥落，"
         "更换主轴轴承并跑合，共停机{hours}小时。"),
        (("2023-11-15", "2023-12-31"),
         "2号数控车床主轴振动大，有异响，更换主轴轴承。",
         {"symptom": "High Vibration|Abnormal Noise"}),
    ], system="Spindle", part="Spindle Bearing", failure_mode="Vibration",
        symptom="High Vibration|Poor Surface Finish", action="Replace", cost=(18000.0, 32000.0),
        downtime=(14.0, 26.0)),
    *make_orders("zh", "CNC-02", "CM", [
        (("2024-07-01", "2024-08-15"),
         "2号数控车床加工时振动，检查发现地脚螺栓松动，重新调平并紧固。",
         {"system": "Machine Base", "part": "Anchor Bolt", "failure_mode": "Vibration",
          "symptom": "High Vibration", "action": "Adjust", "cost": (200.0, 500.0), "downtime": (2.0, 4.0)}),
    ]),
    *make_orders("zh", "CNC-02", "PM", [
        (("2024-04-01", "2024-04-30"),
         "2号数控车床季度保养，主轴加注润滑脂，检查卡盘。",
         {"system": "Spindle", "action": "Lubricate|Inspect"}),
    ], cost=PM_COST, downtime=PM_DOWNTIME),
]

CV201_EN = [
    *make_orders("en", "CV-201", "CM", [
        (("2023-07-01", "2023-08-15"),
         "CV-201 gearbox whining, oil level low. Topped up gear oil, checked for leaks.",
         {"system": "Drive System", "part": "Gearbox", "failure_mode": "Noise", "symptom": "Abnormal Noise",
          "action": "Lubricate|Inspect", "cost": (150.0, 400.0), "downtime": (0.5, 1.5)}),
        (("2024-01-10", "2024-02-20"),
         "CV-201 stopped, drive chain broken at the connecting link. Replaced chain and drive sprocket.",
         {"system": "Drive System", "part": "Drive Chain", "failure_mode": "Breakdown", "symptom": "Line Stopped",
          "action": "Replace", "cost": (900.0, 1600.0), "downtime": (2.0, 4.0)}),
        (("2024-09-10", "2024-10-20"),
         "CV-201 return roller bearing collapsed, vibrating and noisy. Replaced 3 rollers.",
         {"system": "Conveying System", "part": "Roller", "failure_mode": "Vibration|Noise",
          "symptom": "High Vibration|Abnormal Noise", "action": "Replace", "cost": (450.0, 900.0),
          "downtime": (1.0, 2.5)}),
        (("2025-09-01", "2025-09-30"),
         "CV-201 parts not stopping at station 3, photo eye giving false signals. Lens dirty and bracket bent. "
         "Cleaned and realigned sensor.",
         {"system": "Electrical System", "part": "Photoelectric Sensor", "failure_mode": "Electrical Fault",
          "symptom": "False Signal", "action": "Clean|Adjust", "cost": (80.0, 250.0), "downtime": (0.5, 1.0)}),
    ]),
    *make_orders("en", "CV-201", "PM", [
        (("2023-03-10", "2023-04-10"),
         "CV-201 PM: adjusted belt tracking, greased chain, checked e-stops.",
         {"system": "Conveying System|Drive System", "action": "Adjust|Lubricate|Inspect"}),
        (("2025-03-10", "2025-04-10"),
         "CV-201 PM, belt tension adjusted, chain lubricated.",
         {"system": "Conveying System|Drive System", "action": "Adjust|Lubricate"}),
    ], cost=PM_COST, downtime=PM_DOWNTIME),
]

CV201_ZH = [
    *make_orders("zh", "CV-201", "CM", [
        (("2025-05-01", "2025-06-15"),
         "201输送机输送带撕裂约30cm，停线更换输送带。",
         {"system": "Conveying System", "part": "Conveyor Belt", "failure_mode": "Breakdown",
          "symptom": "Line Stopped", "action": "Replace", "cost": (3500.0, 6000.0), "downtime": (4.0, 8.0)}),
        (("2023-10-01", "2023-11-15"),
         "201输送机光电传感器信号误报，工件到位不停。清洁传感器镜头并调整安装位置，恢复正常。",
         {"system": "Electrical System", "part": "Photoelectric Sensor", "failure_mode": "Electrical Fault",
          "symptom": "False Signal", "action": "Clean|Adjust", "cost": (80.0, 250.0), "downtime": (0.5, 1.0),
          "zh": {"action": "清洁|调整"}}),
    ]),
    *make_orders("zh", "CV-201", "PM", [
        (("2024-06-01", "2024-06-30"),
         "201输送机月度保养，调整输送带跑偏，链条润滑。",
         {"system": "Conveying System|Drive System", "action": "Adjust|Lubricate"}),
    ], cost=PM_COST, downtime=PM_DOWNTIME),
]

CV202_EN = [
    *make_orders("en", "CV-202", "CM", [
        (("2024-04-15", "2024-05-31"),
         "CV-202 motor tripped, burning smell from terminal box. Motor winding burnt. Replaced drive motor.",
         {"system": "Drive System", "part": "Motor", "failure_mode": "Electrical Fault",
          "symptom": "Motor Tripped|Burning Smell", "action": "Replace", "cost": (1800.0, 3200.0),
          "downtime": (2.0, 5.0)}),
        (("2025-07-20", "2025-08-31"),
         "CV-202 stopped, gearbox output shaft sheared. Installed spare gearbox.",
         {"system": "Drive System", "part": "Gearbox", "failure_mode": "Breakdown", "symptom": "Line Stopped",
          "action": "Replace", "cost": (4200.0, 6800.0), "downtime": (4.0, 8.0)}),
        (("2023-12-01", "2023-12-31"),
         "CV-202 belt splice opened up and tore across half the width. Fitted new conveyor belt, tracking adjusted.",
         {"system": "Conveying System", "part": "Conveyor Belt", "failure_mode": "Breakdown",
          "symptom": "Line Stopped", "action": "Replace|Adjust", "cost": (3500.0, 6000.0), "downtime": (4.0, 8.0)}),
        (("2024-08-01", "2024-08-31"),
         "CV-202 will not start, inverter showing OC overcurrent fault, reset did not clear. Replaced inverter.",
         {"system": "Electrical System", "part": "Frequency Inverter", "failure_mode": "Fail to Start",
          "symptom": "Motor Does Not Start", "action": "Replace", "cost": (2400.0, 3800.0),
          "downtime": (2.0, 4.0)}),
    ]),
    *make_orders("en", "CV-202", "PM", [
        (("2023-05-01", "2023-05-31"),
         "CV-202 PM: greased roller bearings, checked belt tracking.",
         {"system": "Conveying System", "action": "Lubricate|Inspect"}),
    ], cost=PM_COST, downtime=PM_DOWNTIME),
]

CV202_ZH = [
    *make_orders("zh", "CV-202", "CM", [
        (("2023-08-10", "2023-09-30"),
         "202输送机托辊轴承异响，更换托辊2个。",
         {"system": "Conveying System", "part": "Roller", "failure_mode": "Noise", "symptom": "Abnormal Noise",
          "action": "Replace", "cost": (300.0, 600.0), "downtime": (1.0, 2.0)}),
        (("2025-09-01", "2025-09-30"),
         "202输送机无法启动，变频器报过流故障，复位无效，更换变频器。",
         {"system": "Electrical System", "part": "Frequency Inverter", "failure_mode": "Fail to Start",
          "symptom": "Motor Does Not Start", "action": "Replace", "cost": (2400.0, 3800.0),
          "downtime": (2.0, 4.0)}),
    ]),
    *make_orders("zh", "CV-202", "PM", [
        (("2025-02-10", "2025-03-10"),
         "202输送机保养，更换减速机齿轮油，检查输送带。",
         {"system": "Drive System|Conveying System", "action": "Replace|Inspect"}),
    ], cost=PM_COST, downtime=PM_DOWNTIME),
]

RB05_EN = [
    *make_orders("en", "RB-05", "CM", [
        (("2023-07-10", "2023-08-20"),
         "RB-05 torch overheating, cooling water flow alarm. Water hose kinked behind axis 6. "
         "Rerouted and replaced hose.",
         {"symptom": "Overtemperature Alarm", "action": "Replace|Adjust"}),
        (("2024-07-01", "2024-08-15"),
         "RB-05 torch neck too hot, porosity in welds. Water hose blocked with scale. Flushed circuit, replaced hose.",
         {"symptom": "Overtemperature Alarm|Porosity in Weld", "action": "Clean|Replace"}),
    ], system="Cooling System", part="Cooling Water Hose", failure_mode="Overheating", cost=(200.0, 600.0),
        downtime=(1.0, 2.5)),
    *make_orders("en", "RB-05", "CM", [
        (("2024-02-01", "2024-03-15"),
         "RB-05 arc start failures, torch cable insulation damaged at axis 4. Replaced torch cable.",
         {"system": "Welding System", "part": "Torch Cable", "failure_mode": "Electrical Fault",
          "symptom": "Arc Start Failure", "action": "Replace", "cost": (1500.0, 2800.0), "downtime": (1.5, 3.0)}),
        (("2025-01-10", "2025-02-28"),
         "RB-05 axis 2 grinding noise on fast moves. RV reducer grease degraded, some backlash. Changed grease; "
         "monitor, reducer to be replaced at next shutdown.",
         {"system": "Manipulator", "part": "RV Reducer", "failure_mode": "Noise", "symptom": "Abnormal Noise",
          "action": "Lubricate|Inspect", "cost": (600.0, 1200.0), "downtime": (2.0, 4.0)}),
        (("2025-08-01", "2025-09-15"),
         "RB-05 welding power source would not switch on, control fuse blown. Replaced fuse, checked input wiring.",
         {"system": "Electrical System", "part": "Fuse", "failure_mode": "Fail to Start", "symptom": "No Power",
          "action": "Replace|Inspect", "cost": (50.0, 200.0), "downtime": (0.5, 1.5)}),
        (("2024-06-01", "2024-06-30"),
         "RB-05 stopped with servo amplifier alarm on axis 1. Amplifier cooling fan dead, drive overheated. "
         "Replaced servo drive.",
         {"system": "Electrical System", "part": "Servo Drive", "failure_mode": "Electrical Fault",
          "symptom": "Servo Alarm", "action": "Replace", "cost": (5200.0, 8200.0), "downtime": (3.0, 6.0)}),
        (("2025-03-01", "2025-03-31"),
         "RB-05 wire feed erratic, porosity at weld start. Wire feeder drive rolls worn, liner dirty. "
         "Replaced drive rolls, cleaned liner.",
         {"system": "Welding System", "part": "Wire Feeder", "failure_mode": "Low Output",
          "symptom": "Wire Feed Unstable|Porosity in Weld", "action": "Replace|Clean", "cost": (300.0, 700.0),
          "downtime": (1.0, 2.0)}),
    ]),
    *make_orders("en", "RB-05", "PM", [
        (("2023-04-01", "2023-04-30"),
         "RB-05 PM: replaced contact tips and gas nozzle, cleaned wire liner, checked TCP.",
         {"system": "Welding System", "part": "Contact Tip", "action": "Replace|Clean|Inspect"}),
        (("2024-10-01", "2024-10-31"),
         "RB-05 annual PM, reducer grease change axes 1-3, cable check.",
         {"system": "Manipulator", "action": "Lubricate|Inspect"}),
    ], cost=PM_COST, downtime=PM_DOWNTIME),
]

RB05_ZH = [
    *make_orders("zh", "RB-05", "CM", [
        (("2025-07-15", "2025-08-31"),
         "5号焊接机器人焊枪过热报警，冷却水管堵塞，清洗水路并更换水管。",
         {"system": "Cooling System", "part": "Cooling Water Hose", "failure_mode": "Overheating",
          "symptom": "Overtemperature Alarm", "action": "Clean|Replace", "cost": (200.0, 600.0),
          "downtime": (1.0, 2.5)}),
        (("2023-10-10", "2023-11-30"),
         "5号焊接机器人送丝不稳，焊缝有气孔，送丝机电机损坏，更换送丝机。",
         {"system": "Welding System", "part": "Wire Feeder", "failure_mode": "Breakdown",
          "symptom": "Wire Feed Unstable|Porosity in Weld", "action": "Replace", "cost": (3800.0, 5600.0),
          "downtime": (2.0, 4.0)}),
    ]),
    *make_orders("zh", "RB-05", "PM", [
        (("2024-12-01", "2024-12-31"),
         "5号焊接机器人年度保养：更换导电嘴和喷嘴，各轴减速器加注润滑脂。",
         {"system": "Welding System|Manipulator", "part": "Contact Tip", "action": "Replace|Lubricate"}),
        (("2025-05-01", "2025-05-31"),
         "5号焊接机器人季度保养，清洁焊枪，检查电缆。",
         {"system": "Welding System", "action": "Clean|Inspect", "zh": {"action": "清洁|检查"}}),
    ], cost=PM_COST, downtime=PM_DOWNTIME),
]

HP02_EN = [
    *make_orders("en", "HP-02", "CM", [
        (("2023-03-01", "2023-04-15"),
         "HP-02 main cylinder leaking oil at rod seal. Replaced cylinder seal kit.",
         {"part": "Cylinder Seal", "cost": (1600.0, 2800.0), "downtime": (4.0, 8.0)}),
        (("2024-05-01", "2024-06-15"),
         "HP-02 hydraulic hose burst on return line, oil on floor. Replaced hose, cleaned up spill.",
         {"action": "Replace|Clean"}),
        (("2025-04-10", "2025-05-20"),
         "HP-02 hose fitting at valve block weeping. Replaced hose assembly."),
    ], system="Hydraulic System", part="Hydraulic Hose", failure_mode="Leak", symptom="Oil on Floor",
        action="Replace", cost=(400.0, 900.0), downtime=(1.5, 3.5)),
    *make_orders("en", "HP-02", "CM", [
        (("2023-10-01", "2023-11-15"),
         "HP-02 cannot reach tonnage, system pressure {bar} bar (set 210). Hydraulic pump worn, internal leakage. "
         "Replaced pump.",
         {"system": "Hydraulic System", "part": "Hydraulic Pump", "failure_mode": "Pressure Low",
          "symptom": "Pressure Drop", "action": "Replace", "cost": (8500.0, 14000.0), "downtime": (6.0, 12.0),
          "params": {"bar": (150, 175)}}),
        (("2024-09-01", "2024-10-15"),
         "HP-02 light curtain fault, press will not cycle. Receiver knocked out of line by a forklift. "
         "Realigned and tested.",
         {"system": "Safety System", "part": "Light Curtain", "failure_mode": "Electrical Fault",
          "symptom": "Safety Circuit Open", "action": "Adjust|Inspect", "cost": (100.0, 350.0),
          "downtime": (0.5, 1.5)}),
        (("2025-02-01", "2025-03-15"),
         "HP-02 pump noisy, suction strainer partly blocked, pump cavitating. Cleaned strainer, changed oil.",
         {"system": "Hydraulic System", "part": "Suction Strainer", "failure_mode": "Noise",
          "symptom": "Abnormal Noise", "action": "Clean|Replace", "cost": (1200.0, 2500.0), "downtime": (3.0, 6.0)}),
        (("2025-08-01", "2025-08-31"),
         "HP-02 hydraulic oil at {temp}C, relief valve passing all the time, setting had drifted. Reset relief "
         "valve to 210 bar, oil temp back to 48C within the shift.",
         {"system": "Hydraulic System", "part": "Relief Valve", "failure_mode": "Overheating",
          "symptom": "High Oil Temperature", "action": "Adjust", "cost": (200.0, 500.0), "downtime": (1.0, 2.0),
          "params": {"temp": (64, 70)}}),
    ]),
    *make_orders("en", "HP-02", "PM", [
        (("2023-06-01", "2023-06-30"),
         "HP-02 PM: hydraulic oil sample taken, replaced return filter, checked accumulator precharge.",
         {"system": "Hydraulic System", "action": "Replace|Inspect"}),
        (("2025-06-01", "2025-06-30"),
         "HP-02 PM, oil filter changed, light curtain test OK.",
         {"system": "Hydraulic System|Safety System", "action": "Replace|Inspect"}),
    ], cost=PM_COST, downtime=PM_DOWNTIME),
]

HP02_ZH = [
    *make_orders("zh", "HP-02", "CM", [
        (("2024-12-10", "2025-01-20"),
         "2号液压机主油缸渗油，更换油缸密封件。",
         {"system": "Hydraulic System", "part": "Cylinder Seal", "failure_mode": "Leak", "symptom": "Oil on Floor",
          "action": "Replace", "cost": (1600.0, 2800.0), "downtime": (4.0, 8.0)}),
        (("2025-09-01", "2025-10-15"),
         "2号液压机系统压力上不去，溢流阀阀芯卡滞，拆洗后调整压力至210bar。",
         {"system": "Hydraulic System", "part": "Relief Valve", "failure_mode": "Pressure Low",
          "symptom": "Pressure Drop", "action": "Clean|Adjust", "cost": (300.0, 700.0), "downtime": (1.5, 3.0)}),
        (("2024-07-15", "2024-08-31"),
         "2号液压机油温过高（{temp}℃），液压油冷却器堵塞，清洗冷却器。",
         {"system": "Cooling System", "part": "Oil Cooler", "failure_mode": "Overheating",
          "symptom": "High Oil Temperature", "action": "Clean", "cost": (500.0, 1100.0), "downtime": (2.0, 4.0),
          "params": {"temp": (62, 68)}}),
    ]),
    *make_orders("zh", "HP-02", "PM", [
        (("2023-08-01", "2023-08-31"),
         "2号液压机保养：更换回油滤芯，检查蓄能器压力，安全光幕测试正常。",
         {"system": "Hydraulic System|Safety System", "action": "Replace|Inspect"}),
    ], cost=PM_COST, downtime=PM_DOWNTIME),
]

WORK_ORDER_SPECS = [
    *AC3_EN, *AC1_EN, *P101_EN, *P102_EN, *CNC01_EN, *CNC02_EN, *CV201_EN, *CV202_EN, *RB05_EN, *HP02_EN,
    *AC3_ZH, *AC1_ZH, *P101_ZH, *P102_ZH, *CNC01_ZH, *CNC02_ZH, *CV201_ZH, *CV202_ZH, *RB05_ZH, *HP02_ZH,
]

# --------------------------------------------------------------------------------------
# Telemetry simulation
# --------------------------------------------------------------------------------------


def telemetry_hours() -> list[datetime]:
    count = int((TELEMETRY_END - TELEMETRY_START) / timedelta(hours=1)) + 1
    return [TELEMETRY_START + timedelta(hours=i) for i in range(count)]


def ambient_temperature(timestamp: datetime) -> float:
    """Return the compressor-room air temperature in degC, rising into July and warmest at 15:00."""
    days = (timestamp - TELEMETRY_START) / timedelta(days=1)
    return 26.0 + 0.06 * days + 4.0 * math.sin(2 * math.pi * (timestamp.hour - 9) / 24)


def plant_air_demand(timestamp: datetime) -> float:
    """Return the fraction of compressor capacity the plant draws: two day shifts, a night shift, quiet Sundays."""
    if timestamp.weekday() == 6:
        return 0.35
    return 0.85 if 6 <= timestamp.hour < 22 else 0.6


def line1_running(timestamp: datetime) -> bool:
    """Return True while Line 1 runs: three shifts Monday to Saturday, idle on Sunday."""
    return timestamp.weekday() != 6


def events_for(asset: str) -> list[FailureEvent]:
    return [event for event in FAILURE_EVENTS if event.asset == asset]


def phase_at(asset: str, timestamp: datetime) -> tuple[str, FailureEvent | None, float]:
    """Return ("failure" | "stopped" | "running", the event concerned, degradation progress 0..1)."""
    for event in events_for(asset):
        if timestamp == event.failure_at:
            return "failure", event, 1.0
        if event.is_stopped(timestamp):
            return "stopped", event, 0.0
    for event in events_for(asset):
        progress = event.progress(timestamp)
        if progress > 0:
            return "running", event, progress
    return "running", None, 0.0


def ac3_temperature_offset(timestamp: datetime, event: FailureEvent | None, progress: float) -> float:
    """Return the degC that AC-3's cooling faults add to its normal discharge temperature.

    June: a cracked cooling fan adds up to 18 degC over the 36 h ramp. After the new fan
    (1.5 degC cooler than the old one), dust builds up in the oil cooler at 0.22 degC per day,
    and the last 30 h before the July trip add up to 16.5 degC. Cleaning the cooler
    leaves the unit 2 degC cooler than before June.
    """
    june, july = FAILURE_EVENTS[0], FAILURE_EVENTS[3]
    if timestamp <= june.failure_at:
        return 18.0 * progress ** 1.6 if event is june else 0.0
    restart_june = june.failure_at + timedelta(hours=june.downtime_hours + 1)
    if timestamp <= july.failure_at:
        fouling_days = max((timestamp - restart_june) / timedelta(days=1), 0.0)
        ramp = 16.5 * progress ** 1.8 if event is july else 0.0
        return -1.5 + 0.22 * fouling_days + ramp
    return -2.0


def simulate_compressor(asset: str, spec: dict, rng: random.Random, other_stopped) -> list[dict]:
    """Simulate an oil-injected screw compressor.

    While `other_stopped(t)` is true, this unit also carries the other compressor's load.
    """
    rows = []
    temp_state = None
    for timestamp in telemetry_hours():
        state, event, progress = phase_at(asset, timestamp)
        ambient = ambient_temperature(timestamp)
        load = plant_air_demand(timestamp) + (0.3 if other_stopped(timestamp) else 0.0)
        load = min(load + rng.gauss(0, 0.03), 1.0)
        if state == "stopped":
            # Stopped and blown down: no current or pressure, oil cools towards room temperature.
            temp_state = ambient + (temp_state - ambient) * math.exp(-0.4)
            rows.append(telemetry_row(timestamp, asset, temp_state + rng.gauss(0, 0.2), 0.0,
                                      abs(rng.gauss(0.05, 0.02)), 0.0))
            continue
        target = spec["temp_base"] + spec["temp_per_load"] * load + 0.8 * (ambient - 27.0)
        current = spec["current_idle"] + spec["current_per_load"] * load
        vibration = spec["vibration_base"] + 0.3 * load
        if asset == "AC-3":
            target += ac3_temperature_offset(timestamp, event, progress)
            if event is not None:
                current += 6.0 * progress
                if event is FAILURE_EVENTS[0]:
                    vibration += 1.4 * progress ** 1.5  # cracked fan hub, out of balance
        # Oil temperature follows the target with a lag, which slows warm-up after a stop.
        temp_state = target if temp_state is None else temp_state + 0.7 * (target - temp_state)
        pressure = 7.35 - 0.3 * load
        rows.append(telemetry_row(
            timestamp, asset,
            temp_state + rng.gauss(0, 0.4),
            pressure + rng.gauss(0, 0.04),
            vibration + rng.gauss(0, 0.08),
            current + rng.gauss(0, 1.5),
            event if state == "failure" else None,
        ))
    return rows


def simulate_coolant_pump(asset: str, rng: random.Random) -> list[dict]:
    """Simulate P-101, the 4 kW coolant pump of Line 1, which has no temperature sensor."""
    rows = []
    for timestamp in telemetry_hours():
        state, event, progress = phase_at(asset, timestamp)
        if state == "stopped" or not line1_running(timestamp):
            rows.append(telemetry_row(timestamp, asset, None, 0.0, abs(rng.gauss(0.05, 0.02)), 0.0))
            continue
        pressure = 4.2 + 0.06 * math.sin(2 * math.pi * (timestamp.hour - 3) / 24)
        current = 7.6 + 0.15 * math.sin(2 * math.pi * (timestamp.hour - 3) / 24)
        # A leaking seal loses flow to the floor: pressure sags, the motor works slightly harder.
        pressure -= 0.85 * progress ** 2
        current += 0.35 * progress
        if state == "failure":
            pressure -= 0.3  # the seal lets go
        rows.append(telemetry_row(
            timestamp, asset, None,
            pressure + rng.gauss(0, 0.03),
            1.35 + rng.gauss(0, 0.06),
            current + rng.gauss(0, 0.06),
            event if state == "failure" else None,
        ))
    return rows


def simulate_lathe(asset: str, rng: random.Random) -> list[dict]:
    """Simulate CNC-02's spindle: vibration velocity on the headstock and spindle motor current.

    The lathe has neither a discharge temperature nor a discharge pressure, so both cells stay empty.
    """
    rows = []
    repaired_at = FAILURE_EVENTS[2].failure_at
    for timestamp in telemetry_hours():
        state, event, progress = phase_at(asset, timestamp)
        if state == "stopped" or not line1_running(timestamp):
            rows.append(telemetry_row(timestamp, asset, None, None, abs(rng.gauss(0.1, 0.03)), 0.0))
            continue
        if timestamp.hour in (6, 14, 22):
            # Shift change: set-up and measuring, the spindle mostly idles.
            current, vibration = 4.5 + rng.gauss(0, 0.4), 0.4 + rng.gauss(0, 0.05)
        else:
            current, vibration = 17.5 + rng.gauss(0, 1.2), 1.15 + rng.gauss(0, 0.07)
        if timestamp > repaired_at:
            vibration -= 0.2  # new bearings run smoother than the old set ever did
        # Spalling bearing: vibration grows slowly for two weeks, then fast.
        vibration += 5.6 * progress ** 2.4
        current += 1.8 * progress
        if state == "failure":
            vibration += 0.6
        rows.append(telemetry_row(timestamp, asset, None, None, vibration, current,
                                  event if state == "failure" else None))
    return rows


def telemetry_row(timestamp, asset, temp, pressure, vibration, current, event: FailureEvent | None = None) -> dict:
    def fmt(value):
        return "" if value is None else f"{max(value, 0.0):.2f}"

    return {
        "timestamp": timestamp.strftime("%Y-%m-%dT%H:%M:%S"),
        "asset": asset,
        "discharge_temp_c": fmt(temp),
        "discharge_pressure_bar": fmt(pressure),
        "vibration_mm_s": fmt(vibration),
        "motor_current_a": fmt(current),
        "failure": "1" if event else "0",
        "failure_mode": event.failure_mode if event else "",
    }


def generate_telemetry() -> list[dict]:
    def ac3_stopped(timestamp):
        return phase_at("AC-3", timestamp)[0] == "stopped"

    compressor_specs = {
        # 75 kW unit on Line 1 and 55 kW unit on Line 2, both 380 V.
        "AC-3": {"temp_base": 80.0, "temp_per_load": 12.0, "current_idle": 45.0, "current_per_load": 95.0,
                 "vibration_base": 2.1},
        "AC-1": {"temp_base": 78.0, "temp_per_load": 11.0, "current_idle": 35.0, "current_per_load": 70.0,
                 "vibration_base": 1.75},
    }
    rows = []
    rows += simulate_compressor("AC-3", compressor_specs["AC-3"], random.Random(f"{SEED}-AC-3"), lambda t: False)
    rows += simulate_compressor("AC-1", compressor_specs["AC-1"], random.Random(f"{SEED}-AC-1"), ac3_stopped)
    rows += simulate_coolant_pump("P-101", random.Random(f"{SEED}-P-101"))
    rows += simulate_lathe("CNC-02", random.Random(f"{SEED}-CNC-02"))
    return rows


def round_reading(cell: str, decimals: int) -> str:
    return f"{float(cell):.{decimals}f}" if cell else ""


def summarize_events(telemetry: list[dict]) -> dict[str, dict]:
    """Return, per event key, the readings the linked work order quotes in its text.

    Values are rounded the way a technician reads them off the panel.
    """
    by_asset_time = {(row["asset"], row["timestamp"]): row for row in telemetry}
    summaries = {}
    for event in FAILURE_EVENTS:
        failure_row = by_asset_time[(event.asset, event.failure_at.strftime("%Y-%m-%dT%H:%M:%S"))]
        # The first running hour is failure_at + downtime_hours + 1. The text quotes the reading 2 h later.
        restart = event.failure_at + timedelta(hours=event.downtime_hours + 3)
        restart_row = by_asset_time[(event.asset, restart.strftime("%Y-%m-%dT%H:%M:%S"))]
        summaries[event.key] = {
            "temp": round_reading(failure_row["discharge_temp_c"], 0),
            "bar": round_reading(failure_row["discharge_pressure_bar"], 1),
            "vib": round_reading(failure_row["vibration_mm_s"], 1),
            "amps": round_reading(failure_row["motor_current_a"], 0),
            "hours": event.downtime_hours,
            "time": event.failure_at.strftime("%H:%M"),
            "restart_temp": round_reading(restart_row["discharge_temp_c"], 0),
        }
    return summaries

# --------------------------------------------------------------------------------------
# Work order generation
# --------------------------------------------------------------------------------------


def draw_date(rng: random.Random, window: tuple[str, str], asset: str) -> date:
    """Draw a day in `window`, avoiding the telemetry period for assets that have telemetry.

    Inside that period every corrective order of those assets must show up in the telemetry,
    so the random orders stay out of it.
    """
    first, last = date.fromisoformat(window[0]), date.fromisoformat(window[1])
    if not (WORK_ORDER_START <= first <= last <= WORK_ORDER_END):
        raise ValueError(f"date window {window} for {asset} is outside {WORK_ORDER_START}..{WORK_ORDER_END}")
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    if asset in TELEMETRY_ASSETS:
        days = [day for day in days if not TELEMETRY_START.date() <= day <= TELEMETRY_END.date()]
    if not days:
        raise ValueError(f"date window {window} for {asset} lies inside the telemetry period")
    return rng.choice(days)


def draw_params(rng: random.Random, ranges: dict) -> dict:
    """Draw one value per text placeholder; integer bounds give whole numbers."""
    values = {}
    for name, (low, high) in ranges.items():
        if isinstance(low, int) and isinstance(high, int):
            values[name] = rng.randint(low, high)
        else:
            values[name] = f"{rng.uniform(low, high):.1f}"
    return values


def english_names_by_chinese_term() -> dict[str, dict[str, str]]:
    """Invert CHINESE_TERMS: per column, each Chinese term (synonyms included) -> English name."""
    return {
        column: {term: name for name, terms in names.items() for term in terms}
        for column, names in CHINESE_TERMS.items()
    }


def to_chinese(column: str, value: str) -> str:
    if not value:
        return ""
    terms = CHINESE_TERMS[column]
    return MULTI_VALUE_SEPARATOR.join(terms[name][0] for name in value.split(MULTI_VALUE_SEPARATOR))


def build_work_orders(event_summaries: dict[str, dict]) -> tuple[list[dict], list[dict]]:
    """Return (English rows, Chinese rows) with IDs numbered per year across both languages."""
    rng = random.Random(SEED)
    reverse = english_names_by_chinese_term()
    records = []
    for spec in WORK_ORDER_SPECS:
        asset = ASSETS[spec["asset"]]
        when = spec["when"]
        if isinstance(when, str):
            event = EVENTS_BY_KEY[when]
            day = event.failure_at.date()
            downtime = float(event.downtime_hours)
            params = event_summaries[when]
        else:
            day = draw_date(rng, when, asset.tag)
            downtime = round(rng.uniform(*spec["downtime"]) * 2) / 2
            params = draw_params(rng, spec.get("params", {}))
        cost = rng.uniform(*spec["cost"])
        record = {
            "language": spec["language"],
            "date": day,
            "asset": asset.tag,
            "order_type": spec["order_type"],
            "cost": f"{cost:.2f}",
            "downtime_h": f"{downtime:.1f}",
            "text": spec["text"].format(**params),
        }
        for column in MAPPED_COLUMNS:
            record[column] = spec.get(column, "")
        language = spec["language"]
        record["site"] = SITE[language]
        record["line"] = LINES[asset.line][language]
        record["asset_name"] = asset.name_en if language == "en" else asset.name_zh
        if language == "zh":
            overrides = spec.get("zh", {})
            for column, cell in overrides.items():
                names = [reverse[column].get(term, "?") for term in cell.split(MULTI_VALUE_SEPARATOR)]
                if MULTI_VALUE_SEPARATOR.join(names) != record[column]:
                    raise ValueError(
                        f"invalid Chinese {column} override {cell!r} in {asset.tag} order {spec['text'][:30]!r}: "
                        f"it maps to {MULTI_VALUE_SEPARATOR.join(names)!r}, expected {record[column]!r}. "
                        f"Fix the override or CHINESE_TERMS.")
            for column in MAPPED_COLUMNS:
                record[column] = overrides.get(column) or to_chinese(column, record[column])
        records.append(record)

    records.sort(key=lambda r: (r["date"], r["asset"], r["language"], r["text"]))
    per_year = Counter()
    for record in records:
        per_year[record["date"].year] += 1
        record["wo_id"] = f"WO-{record['date'].year}-{per_year[record['date'].year]:04d}"
        record["date"] = record["date"].isoformat()
    english = [r for r in records if r["language"] == "en"]
    chinese = [r for r in records if r["language"] == "zh"]
    return english, chinese

# --------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------


def write_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def yaml_scalar(value: str) -> str:
    """Quote `value` only when plain YAML would read it as something else."""
    loaded = yaml.safe_load(f"key: {value}")
    return value if loaded == {"key": value} else json.dumps(value, ensure_ascii=False)


def used_value_maps(chinese_rows: list[dict]) -> dict[str, dict[str, str]]:
    """Map each Chinese value used in the mapped columns to its English name."""
    reverse = english_names_by_chinese_term()
    maps: dict[str, dict[str, str]] = {column: {} for column in MAPPED_COLUMNS}
    for row in chinese_rows:
        for column in MAPPED_COLUMNS:
            for value in filter(None, row[column].split(MULTI_VALUE_SEPARATOR)):
                if value not in reverse[column]:
                    raise ValueError(f"Chinese {column} value {value!r} has no entry in CHINESE_TERMS")
                maps[column][value] = reverse[column][value]
    english_order = {column: list(CHINESE_TERMS[column]) for column in MAPPED_COLUMNS}
    return {
        column: dict(sorted(values.items(), key=lambda item: (english_order[column].index(item[1]), item[0])))
        for column, values in maps.items()
    }


def work_order_yaml(language: str, value_maps: dict[str, dict[str, str]] | None) -> str:
    lines = [
        "# Generated by generate.py. Edit the script, not this file.",
        "kind: workorders",
        f"source: sample-plant-{language}          # key namespace for work orders from this file",
        "asset_namespace: sample-plant    # key namespace for assets; the same in every file of this plant",
        f"language: {language}",
        'date_formats: ["%Y-%m-%d"]',
        f'multi_value_separator: "{MULTI_VALUE_SEPARATOR}"',
        f"split: [{', '.join(SPLIT_COLUMNS)}]",
        "columns:",
    ]
    mapped = ["id", "date", "site", "line", "asset", "asset_name", "system", "part", "failure_mode",
              "symptom", "action", "order_type", "cost", "text"]
    for key in mapped:
        lines.append(f"  {key}: {'wo_id' if key == 'id' else key}")
    lines.append("failure_mode_codes:            # failure mode name -> ISO 14224 failure-mode code")
    for name, (code, reason) in FAILURE_MODE_CODES.items():
        comment = f"   # {reason}" if reason else ""
        lines.append(f"  {yaml_scalar(name)}: {code}{comment}")
    if value_maps:
        lines.append("value_maps:                    # Chinese value -> English name used in workorders_en.csv")
        for column in MAPPED_COLUMNS:
            lines.append(f"  {column}:")
            for chinese, english in value_maps[column].items():
                lines.append(f"    {yaml_scalar(chinese)}: {yaml_scalar(english)}")
        # The site and line names merge with the English file's nodes only through these maps.
        lines.append("  site:")
        lines.append(f"    {yaml_scalar(SITE['zh'])}: {yaml_scalar(SITE['en'])}")
        lines.append("  line:")
        for names in LINES.values():
            lines.append(f"    {yaml_scalar(names['zh'])}: {yaml_scalar(names['en'])}")
    return "\n".join(lines) + "\n"


TELEMETRY_YAML = """\
# Generated by generate.py. Edit the script, not this file.
kind: telemetry
layout: wide
source: sample-plant-telemetry
asset_namespace: sample-plant
timestamp_format: "%Y-%m-%dT%H:%M:%S"
columns:
  asset: asset
  timestamp: timestamp
signals:
  - {column: discharge_temp_c, name: discharge temperature, name_zh: 排气温度, unit: degC}
  - {column: discharge_pressure_bar, name: discharge pressure, name_zh: 排气压力, unit: bar}
  - {column: vibration_mm_s, name: vibration velocity, name_zh: 振动速度, unit: mm/s}
  - {column: motor_current_a, name: motor current, name_zh: 电机电流, unit: A}
failure:
  flag: failure
  mode_column: failure_mode
"""

# --------------------------------------------------------------------------------------
# Checks and summary
# --------------------------------------------------------------------------------------


def split_cell(value: str) -> list[str]:
    return [part for part in value.split(MULTI_VALUE_SEPARATOR) if part] if value else []


def is_title_case(name: str) -> bool:
    """Return True when every word except short joining words starts with a capital letter or a digit."""
    joining_words = {"to", "on", "in", "of", "and"}
    return all(word in joining_words or word[0].isupper() or word[0].isdigit() for word in name.split())


def check_outputs(directory: Path) -> None:
    """Read the written files back with pandas and yaml and assert the data set's invariants."""
    read = dict(dtype=str, keep_default_na=False, encoding="utf-8")
    english = pd.read_csv(directory / "workorders_en.csv", **read)
    chinese = pd.read_csv(directory / "workorders_zh.csv", **read)
    telemetry = pd.read_csv(directory / "telemetry.csv", encoding="utf-8")
    english_yaml = yaml.safe_load((directory / "workorders_en.yaml").read_text(encoding="utf-8"))
    chinese_yaml = yaml.safe_load((directory / "workorders_zh.yaml").read_text(encoding="utf-8"))
    telemetry_yaml = yaml.safe_load((directory / "telemetry.yaml").read_text(encoding="utf-8"))
    value_maps = chinese_yaml["value_maps"]

    # Shape and counts.
    assert list(english.columns) == WORK_ORDER_COLUMNS, list(english.columns)
    assert list(chinese.columns) == WORK_ORDER_COLUMNS, list(chinese.columns)
    assert list(telemetry.columns) == TELEMETRY_COLUMNS, list(telemetry.columns)
    assert 75 <= len(english) <= 85, f"{len(english)} English work orders, expected about 80"
    assert 35 <= len(chinese) <= 45, f"{len(chinese)} Chinese work orders, expected about 40"
    assert len(telemetry) == len(TELEMETRY_ASSETS) * len(telemetry_hours()), len(telemetry)
    total_bytes = sum(path.stat().st_size for path in directory.glob("*.csv"))
    assert total_bytes < MAX_TOTAL_CSV_BYTES, f"CSV files total {total_bytes} bytes"

    # Identifiers, dates, codes and numbers.
    all_ids = pd.concat([english["wo_id"], chinese["wo_id"]])
    assert all_ids.is_unique, all_ids[all_ids.duplicated()].tolist()
    assert all_ids.str.fullmatch(r"WO-20\d\d-\d{4}").all()
    for frame in (english, chinese):
        dates = pd.to_datetime(frame["date"], format="%Y-%m-%d")
        assert dates.min() >= pd.Timestamp(WORK_ORDER_START), dates.min()
        assert dates.max() <= pd.Timestamp(WORK_ORDER_END), dates.max()
        assert (frame["wo_id"].str[3:7] == frame["date"].str[:4]).all(), "wo_id year differs from date"
        assert frame["order_type"].isin(["CM", "PM"]).all()
        assert frame["cost"].str.fullmatch(r"\d+\.\d\d").all()
        assert set(frame["asset"]) <= set(ASSETS)
        assert (frame.loc[frame["order_type"] == "CM", "failure_mode"] != "").all(), "CM order without failure mode"
        assert (frame["part"].str.find(MULTI_VALUE_SEPARATOR) < 0).all(), "part is not a split column"
    assert (chinese["site"] == SITE["zh"]).all()
    assert (english["site"] == SITE["en"]).all()
    assert english_yaml["source"] == "sample-plant-en"
    assert chinese_yaml["source"] == "sample-plant-zh"
    assert english_yaml["failure_mode_codes"] == chinese_yaml["failure_mode_codes"]
    assert telemetry_yaml["kind"] == "telemetry"

    # English names are Title Case, and every failure mode has an ISO 14224 code.
    english_values = {column: set() for column in MAPPED_COLUMNS}
    for column in MAPPED_COLUMNS:
        for cell in english[column]:
            english_values[column].update(split_cell(cell))
        for name in english_values[column]:
            assert is_title_case(name), f"{column} value {name!r} is not Title Case"
    assert english_values["failure_mode"] <= set(english_yaml["failure_mode_codes"])

    # Every Chinese value is in value_maps, and maps to an English name used in workorders_en.csv.
    for column in MAPPED_COLUMNS:
        for cell in chinese[column]:
            for value in split_cell(cell):
                assert value in value_maps[column], f"Chinese {column} value {value!r} missing from value_maps"
        for chinese_value, name in value_maps[column].items():
            assert name in english_values[column], (
                f"value_maps.{column}: {chinese_value!r} -> {name!r}, which workorders_en.csv never uses")

    # Telemetry: flags, modes, empty cells for signals an asset does not measure.
    assert set(telemetry["failure"]) == {0, 1}
    flagged = telemetry[telemetry["failure"] == 1]
    assert telemetry.loc[telemetry["failure"] == 0, "failure_mode"].isna().all()
    assert telemetry.loc[telemetry["asset"].isin(["P-101", "CNC-02"]), "discharge_temp_c"].isna().all()
    assert telemetry.loc[telemetry["asset"] == "CNC-02", "discharge_pressure_bar"].isna().all()
    assert len(flagged) == len(FAILURE_EVENTS)

    # Every telemetry failure has a corrective work order on the same day, for the same asset and
    # failure mode, and its downtime matches the hours the telemetry shows the asset stopped.
    corrective = []
    for frame, language in ((english, "en"), (chinese, "zh")):
        for row in frame[frame["order_type"] == "CM"].itertuples():
            modes = split_cell(row.failure_mode)
            if language == "zh":
                modes = [value_maps["failure_mode"][mode] for mode in modes]
            corrective.append((row.asset, row.date, modes, float(row.downtime_h), row.wo_id))
    linked_ids = set()
    for row in flagged.itertuples():
        day = row.timestamp[:10]
        matches = [order for order in corrective
                   if order[0] == row.asset and order[1] == day and row.failure_mode in order[2]]
        assert len(matches) == 1, f"telemetry failure {row.asset} {row.timestamp} {row.failure_mode}: {matches}"
        asset_rows = telemetry[telemetry["asset"] == row.asset].reset_index(drop=True)
        position = asset_rows.index[asset_rows["timestamp"] == row.timestamp][0]
        stopped_hours = 0
        while asset_rows.loc[position + stopped_hours + 1, "motor_current_a"] == 0:
            stopped_hours += 1
        assert stopped_hours == matches[0][3], f"{matches[0][4]}: downtime {matches[0][3]} h, telemetry {stopped_hours} h"
        linked_ids.add(matches[0][4])

    # The reverse: inside the telemetry period, corrective orders of those assets are the linked ones.
    for asset, day, _, _, wo_id in corrective:
        in_period = TELEMETRY_START.date().isoformat() <= day <= TELEMETRY_END.date().isoformat()
        if asset in TELEMETRY_ASSETS and in_period:
            assert wo_id in linked_ids, f"{wo_id} ({asset} {day}) has no failure in the telemetry"

    print_summary(english, chinese, telemetry, value_maps, total_bytes)


def canonical_rows(english: pd.DataFrame, chinese: pd.DataFrame, value_maps: dict) -> pd.DataFrame:
    """Return both work-order tables with the Chinese mapped columns translated to English names."""
    translated = chinese.copy()
    for column in MAPPED_COLUMNS:
        translated[column] = translated[column].map(
            lambda cell, column=column: MULTI_VALUE_SEPARATOR.join(value_maps[column][v] for v in split_cell(cell)))
    return pd.concat([english.assign(language="en"), translated.assign(language="zh")], ignore_index=True)


def print_summary(english, chinese, telemetry, value_maps, total_bytes) -> None:
    orders = canonical_rows(english, chinese, value_maps)
    print(f"workorders_en.csv: {len(english)} rows")
    print(f"workorders_zh.csv: {len(chinese)} rows")
    print(f"telemetry.csv: {len(telemetry)} rows, {int(telemetry['failure'].sum())} failures")
    print(f"CSV total: {total_bytes / 1024:.0f} KiB")

    print("\nWork orders per asset (en + zh, CM / PM):")
    for asset, group in orders.groupby("asset"):
        counts = group["order_type"].value_counts()
        print(f"  {asset:7} {len(group):3}   CM {counts.get('CM', 0):2}  PM {counts.get('PM', 0):2}")

    modes = Counter(mode for cell in orders["failure_mode"] for mode in split_cell(cell))
    print("\nCorrective work orders per failure mode (a row with two modes counts for both):")
    for mode, count in modes.most_common():
        print(f"  {mode:17} {count}")

    print("\nRoot-cause evidence:")
    for asset, mode in (("AC-3", "Overheating"), ("P-101", "Leak"), ("CNC-02", "Vibration")):
        subset = orders[(orders["asset"] == asset) & orders["failure_mode"].map(lambda c: mode in split_cell(c))]
        systems = Counter(system for cell in subset["system"] for system in split_cell(cell))
        parts = Counter(subset["part"])
        languages = Counter(subset["language"])
        print(f"  {asset} {mode}: {len(subset)} orders (en {languages['en']}, zh {languages['zh']})")
        print(f"    systems: {dict(systems.most_common())}")
        print(f"    parts:   {dict(parts.most_common())}")
        english_only = Counter(subset.loc[subset["language"] == "en", "part"])
        print(f"    parts, English file alone: {dict(english_only.most_common())}")

    print("\nTelemetry failures:")
    for row in telemetry[telemetry["failure"] == 1].itertuples():
        print(f"  {row.timestamp} {row.asset:7} {row.failure_mode:12} temp {row.discharge_temp_c} "
              f"pressure {row.discharge_pressure_bar} vib {row.vibration_mm_s} current {row.motor_current_a}")


def main() -> None:
    telemetry = generate_telemetry()
    english, chinese = build_work_orders(summarize_events(telemetry))
    value_maps = used_value_maps(chinese)

    write_csv(OUTPUT_DIR / "workorders_en.csv", WORK_ORDER_COLUMNS, english)
    write_csv(OUTPUT_DIR / "workorders_zh.csv", WORK_ORDER_COLUMNS, chinese)
    write_csv(OUTPUT_DIR / "telemetry.csv", TELEMETRY_COLUMNS, telemetry)
    (OUTPUT_DIR / "workorders_en.yaml").write_text(work_order_yaml("en", None), encoding="utf-8")
    (OUTPUT_DIR / "workorders_zh.yaml").write_text(work_order_yaml("zh", value_maps), encoding="utf-8")
    (OUTPUT_DIR / "telemetry.yaml").write_text(TELEMETRY_YAML, encoding="utf-8")

    check_outputs(OUTPUT_DIR)


if __name__ == "__main__":
    main()
